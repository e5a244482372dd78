"""pipelines/inpainting.py and pipelines/engine/images.py: masks, uploads of every kind, both kinds of UNet."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.engine.images import resize_for_model, to_rgb
from pipelines.inpainting import generate_steps, latent_aligned, mask_from_layers, prepare


def shapes_image(size: int = 16) -> Image.Image:
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[2:7, 2:7] = (220, 40, 40)  # a red square top left
    pixels[9:14, 9:14] = (40, 80, 225)  # a blue one bottom right
    return Image.fromarray(pixels)


def stroke(size: int, box: tuple[int, int, int, int], layer_size: int | None = None) -> Image.Image:
    """An editor layer: transparent, with a black brush stroke (alpha 255) over `box`."""
    layer = np.zeros((layer_size or size, layer_size or size, 4), np.uint8)
    scale = (layer_size or size) / size
    left, top, right, bottom = (round(value * scale) for value in box)
    layer[top:bottom, left:right, 3] = 255
    return Image.fromarray(layer, "RGBA")


@pytest.mark.parametrize("zoom", [True, False])
@pytest.mark.parametrize("model_fixture", ["tiny_sd", "tiny_sd_inpainting"])
def test_repaints_inside_the_mask_and_keeps_every_pixel_outside(request, model_fixture: str, zoom: bool) -> None:
    model = request.getfixturevalue(model_fixture)
    image, mask, notices = prepare(shapes_image(), [stroke(16, (1, 1, 8, 8))], longest=16, multiple=8)
    assert notices == []
    frames = list(generate_steps(model, image, mask, "a green triangle", steps=5, seed=0, batch_size=2, zoom=zoom))
    assert [frame.step for frame in frames] == [1, 2, 3, 4, 5]
    result = frames[-1].predicted_original
    assert result.shape == (2, 16, 16, 3)
    outside = np.asarray(mask) == 0
    original = np.asarray(image)
    for repainted in result:
        assert np.abs(repainted[outside].astype(int) - original[outside]).max() == 0
        assert np.abs(repainted[~outside].astype(int) - original[~outside]).mean() > 2  # inside: something new


def test_strength_out_of_range_is_refused(tiny_sd: str) -> None:
    image, mask, _ = prepare(shapes_image(), [stroke(16, (1, 1, 8, 8))], longest=16, multiple=8)
    with pytest.raises(ValueError, match="Strength must be above 0 and at most 1"):
        list(generate_steps(tiny_sd, image, mask, "a red circle", strength=1.5))


def test_mask_is_the_union_of_the_strokes_alpha() -> None:
    mask, notices = mask_from_layers([stroke(16, (0, 0, 4, 4)), stroke(16, (10, 10, 16, 16))], (16, 16))
    pixels = np.asarray(mask)
    assert notices == [] and pixels[:4, :4].all() and pixels[10:, 10:].all() and pixels.sum() == 255 * (16 + 36)


@pytest.mark.parametrize("layers", [[], [None], [stroke(16, (0, 0, 0, 0))]])
def test_a_missing_or_empty_mask_is_refused(layers: list) -> None:
    with pytest.raises(ValueError, match="paint over the part of the image to repaint"):
        mask_from_layers(layers, (16, 16))


def test_a_mask_of_another_size_is_stretched_with_a_notice() -> None:
    mask, notices = mask_from_layers([stroke(16, (0, 0, 8, 8), layer_size=64)], (16, 16))
    assert "stretched" in notices[0] and np.asarray(mask)[:8, :8].all() and not np.asarray(mask)[8:].any()


def test_latent_aligned_mask_covers_every_touched_latent_pixel() -> None:
    mask = Image.fromarray(np.pad(np.full((1, 1), 255, np.uint8), ((5, 10), (5, 10))), "L")  # one pixel at (5, 5)
    grown = np.asarray(latent_aligned(mask, 4))
    assert grown[4:8, 4:8].all() and grown.sum() == 255 * 16


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "CMYK", "I;16", "1"])
def test_uploads_of_any_mode_become_8_bit_rgb(mode: str) -> None:
    image = shapes_image().convert("RGBA" if mode in ("RGBA", "LA") else "RGB")
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image.convert("L"), np.uint16) * 257), "I;16")
    else:
        image = image.convert(mode)
    converted, notices = to_rgb(image)
    assert converted.mode == "RGB" and converted.size == (16, 16)
    assert notices == [] if mode == "RGBA" else mode in notices[0]  # opaque RGBA (the editor's) needs no notice
    assert np.asarray(converted)[2:7, 2:7].mean() > 30 and np.asarray(converted)[0, 15].max() == 0  # shape, black


def test_transparent_parts_become_black() -> None:
    pixels = np.full((4, 4, 4), 255, np.uint8)
    pixels[:, :2, 3] = 0
    converted, notices = to_rgb(Image.fromarray(pixels, "RGBA"))
    assert "transparent parts became black" in notices[0]
    assert np.asarray(converted)[:, :2].max() == 0 and np.asarray(converted)[:, 2:].min() == 255


def test_huge_uploads_are_resized_to_the_models_size_with_a_notice() -> None:
    resized, notices = resize_for_model(Image.new("RGB", (4000, 3000)), longest=32, multiple=8)
    assert resized.size == (32, 24) and "4000×3000 to 32×24" in notices[0]
    same, none = resize_for_model(Image.new("RGB", (32, 32)), longest=32, multiple=8)
    assert same.size == (32, 32) and none == []


def test_an_inpainting_models_prompt_is_checked_too(tiny_sd_inpainting: str) -> None:
    from pipelines import inpainting, text_to_image

    (unknown,) = text_to_image.prompt_notices(tiny_sd_inpainting, "a red zebra", inpainting.PIPELINE_CLASSES)
    assert "zebra" in unknown
