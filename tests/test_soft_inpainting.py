"""Soft-mask inpainting (Differential Diffusion): pipelines/inpainting.py with `soft=True`."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_inpainting import shapes_image

from pipelines import inpainting
from pipelines.inpainting import InpaintedFrame, free_pixels, generate, generate_steps, mask_from_layers, prepare

BAND_LEVELS = (0, 64, 128, 255)  # 0, 0.25, 0.5, 1.0 in four vertical bands, each one latent pixel of tiny_sd wide
EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def banded_mask(size: int = 16, levels: tuple[int, ...] = BAND_LEVELS) -> Image.Image:
    width = size // len(levels)
    pixels = np.zeros((size, size), np.uint8)
    for index, level in enumerate(levels):
        pixels[:, index * width : (index + 1) * width] = level
    return Image.fromarray(pixels, "L")


def patch_mask(size: int = 16) -> Image.Image:
    """A small soft patch (level 0.5, 1 in its middle) in the top left: zooming crops around it."""
    pixels = np.zeros((size, size), np.uint8)
    pixels[1:7, 1:7] = 128
    pixels[3:5, 3:5] = 255
    return Image.fromarray(pixels, "L")


@pytest.mark.parametrize("zoom, mask", [(False, banded_mask()), (True, patch_mask()), (False, patch_mask())])
def test_pixels_at_level_0_come_out_unchanged_bit_for_bit(tiny_sd: str, zoom: bool, mask: Image.Image) -> None:
    image = shapes_image()
    last = generate(
        model=tiny_sd, image=image, mask=mask, prompt="a red circle", steps=6, batch_size=2, zoom=zoom, soft=True
    )
    original = np.asarray(image)
    kept = np.asarray(mask) == 0
    assert last.predicted_original.shape == (2, 16, 16, 3)
    for result, changes in zip(last.predicted_original, last.change_maps, strict=True):
        np.testing.assert_array_equal(result[kept], original[kept])
        assert np.abs(result[~kept].astype(int) - original[~kept]).mean() > 2  # the rest went through the model
        np.testing.assert_array_equal(changes[..., 0], np.abs(result.astype(int) - original).max(axis=-1))
        assert changes[kept].max() == 0


def record_masks(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The blending masks the pipeline gets, at latent resolution: the call's, then each callback's."""
    masks: list[np.ndarray] = []
    stream_pipeline = inpainting.stream_pipeline

    def recording_stream(pipeline, step_end, **call):
        scale = pipeline.vae_scale_factor
        masks.append(np.asarray(call["mask_image"])[::scale, ::scale] / 255)

        def recording_step_end(pipe, index, tensors):
            changed = step_end(pipe, index, tensors)
            masks.append(changed["mask"][0, 0].numpy())
            return changed

        return stream_pipeline(pipeline, step_end=recording_step_end, **call)

    monkeypatch.setattr(inpainting, "stream_pipeline", recording_stream)
    return masks


@pytest.mark.parametrize(
    "strength, free_blends", [(1.0, [0, 3, 5, 8]), (0.5, [0, 3, 4, 4])]
)  # per band of level 0, 0.25, 0.5, 1
def test_each_pixel_is_free_for_the_last_steps_its_level_allows(tiny_sd: str, monkeypatch, strength, free_blends):
    """8 steps: a pixel of level m is denoised freely in the last m * 8 steps (Differential Diffusion), i.e. it
    is kept by the blends after steps up to (1 - m) * 8 - 1 and free in the others. Strength 0.5 runs only the
    last 4 steps: levels above it are free throughout, like 0.5."""
    masks = record_masks(monkeypatch)
    generate(model=tiny_sd, image=shapes_image(), mask=banded_mask(), steps=8, strength=strength, zoom=False, soft=True)
    blends = np.stack(masks[: round(8 * strength)])  # the last callback's mask is never used: the run has ended
    assert blends.shape == (round(8 * strength), 4, 4)
    assert set(np.unique(blends)) <= {0.0, 1.0}
    assert (np.diff(blends, axis=0) >= 0).all()  # once free, a pixel stays free
    assert [int(blends[:, :, band].sum(axis=0).max()) for band in range(4)] == free_blends
    assert (blends[:, :, 0] == 0).all()  # level 0: kept by every blend, the last one (to the clean latents) too


def test_the_free_steps_of_a_level() -> None:
    levels = np.array([[0.0, 0.1, 0.25, 0.5, 0.75, 1.0]], np.float32)
    free_steps = sum(free_pixels(levels, step, 20) for step in range(20))
    assert free_steps[0].tolist() == [0, 2, 5, 10, 15, 20]  # level * steps
    assert free_pixels(levels, 20, 20)[0].tolist() == [0, 1, 1, 1, 1, 1]  # after the last: all but level 0


def test_the_last_frame_keeps_its_change_maps_when_pickled(tiny_sd: str) -> None:
    """ZeroGPU pickles every frame to the server (a latent frame turns into a plain Frame)."""
    last = generate(model=tiny_sd, image=shapes_image(), mask=banded_mask(), steps=2, soft=True)
    again = pickle.loads(pickle.dumps(last))
    assert isinstance(again, InpaintedFrame)
    np.testing.assert_array_equal(again.change_maps, last.change_maps)
    np.testing.assert_array_equal(again.predicted_original, last.predicted_original)


def test_a_binary_soft_mask_is_ordinary_inpainting(tiny_sd: str) -> None:
    mask = banded_mask(levels=(0, 0, 255, 255))
    settings = {
        "model": tiny_sd,
        "image": shapes_image(),
        "mask": mask,
        "prompt": "a blue square",
        "steps": 5,
        "zoom": False,
    }
    np.testing.assert_array_equal(
        generate(**settings, soft=True).predicted_original, generate(**settings).predicted_original
    )


def test_an_all_zero_mask_is_refused(tiny_sd: str) -> None:
    transparent = Image.new("RGBA", (16, 16))
    with pytest.raises(ValueError, match="The mask is empty"):
        mask_from_layers([transparent], (16, 16), soft=True)
    with pytest.raises(ValueError, match="The mask is empty"):
        generate(model=tiny_sd, image=shapes_image(), mask=Image.new("L", (16, 16)), steps=2, soft=True)


def test_inpainting_unets_are_refused_with_a_soft_mask(tiny_sd_inpainting: str) -> None:
    with pytest.raises(ValueError, match=r"Soft masks need a text-to-image UNet \(4 input channels\).*takes 9"):
        generate(model=tiny_sd_inpainting, image=shapes_image(), mask=banded_mask(), steps=2, soft=True)


def test_the_soft_mask_is_the_strokes_opacity_and_the_strongest_where_they_overlap() -> None:
    light, strong = np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16, 4), np.uint8)
    light[:, :8, 3], strong[:, 4:12, 3] = 64, 191
    mask, _ = mask_from_layers([Image.fromarray(light), Image.fromarray(strong)], (16, 16), soft=True)
    assert np.asarray(mask)[0].tolist() == [64] * 4 + [191] * 8 + [0] * 4
    image, prepared, _ = prepare(shapes_image(32), [Image.fromarray(light)], longest=16, multiple=8, soft=True)
    assert image.size == prepared.size == (16, 16) and set(np.unique(prepared)) <= set(range(65))
    binary, _ = mask_from_layers([Image.fromarray(light), Image.fromarray(strong)], (16, 16))
    assert np.asarray(binary)[0].tolist() == [0] * 4 + [255] * 8 + [0] * 4  # below 0.5 is no stroke there


def test_stop_ends_a_soft_run_after_its_step(tiny_sd: str) -> None:
    run = generate_steps(tiny_sd, shapes_image(), banded_mask(), "a red circle", steps=200, zoom=False, soft=True)
    assert next(run).step == 1
    started = time.perf_counter()
    run.close()  # what Stop does
    assert time.perf_counter() - started < 5


def test_change_grows_with_the_level_on_the_embedded_model() -> None:
    """On shapes-sd (a trained autoencoder: tiny_sd's random one garbles whatever it decodes), the whole image at one
    level, 2 scenes x 4 seeds: the mean change grows with the level. Guidance 1: at 5 the prompt's colour takes over
    in even the last few steps (train/evaluate_soft_inpainting.py: 25.2 at level 0.1, 27.3 at 0.5)."""
    means = []
    for level in (0.25, 0.5, 1.0):
        mask = Image.new("L", (32, 32), round(level * 255))
        changes = []
        for name in ("scene-1.png", "scene-2.png"):
            scene = Image.open(EXAMPLES / name).convert("RGB").resize((32, 32), Image.Resampling.LANCZOS)
            settings = {"prompt": "a green triangle", "guidance_scale": 1.0, "batch_size": 4, "zoom": False}
            last = generate(image=scene, mask=mask, soft=True, **settings)
            assert isinstance(last, InpaintedFrame)
            changes.append(last.change_maps.mean())
        means.append(float(np.mean(changes)))
    assert means[0] < means[1] < means[2], means
