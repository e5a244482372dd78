"""pipelines/latent_space.py and pipelines/unet_levels.py on a tiny random Stable Diffusion (16 px, 4x4x4 latents).
~10 s."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import latent_space, text_to_image, unet_levels
from pipelines.engine.loading import load_pipeline

SCENE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "scene-2.png"  # 256x256 shapes


def test_an_image_goes_through_the_vae_and_back(tiny_sd: str) -> None:
    view = latent_space.encode(tiny_sd, Image.open(SCENE), timestep=500, seed=0)
    assert view.image.shape == view.round_trip.shape == view.noised_pixels.shape == view.noised_latents.shape
    assert view.image.shape == (16, 16, 3)
    assert view.latent_shape == (4, 4, 4) and view.pixel_values == 16 * 16 * 3
    assert len(view.channels) == 4 and view.channels[0].shape == (128, 128, 3)  # 4 px enlarged 32x
    assert view.psnr == pytest.approx(latent_space.psnr(view.round_trip, view.image)) and math.isfinite(view.psnr)
    assert view.notices == ["The image was resized from 256×256 to 16×16, the size this model takes."]
    pipeline = load_pipeline(tiny_sd, text_to_image.PIPELINE_CLASSES)
    assert view.alpha_prod == pytest.approx(float(pipeline.scheduler.alphas_cumprod[500]))
    early = latent_space.encode(tiny_sd, Image.open(SCENE), timestep=0, seed=0)
    assert np.abs(early.noised_pixels.astype(int) - early.image).mean() < 2  # t = 0: barely any noise
    assert np.abs(view.noised_pixels.astype(int) - view.image).mean() > 10
    again = latent_space.encode(tiny_sd, Image.open(SCENE), timestep=500, seed=1)
    assert not np.array_equal(again.noised_latents, view.noised_latents)


def test_psnr() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    assert latent_space.psnr(image, image) == math.inf
    assert latent_space.psnr(image + 1, image) == pytest.approx(10 * math.log10(255**2))


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"timestep": 1000}, "Timestep must be between 0 and 999"), ({"image": None}, "Choose an example image")],
)
def test_bad_input_is_refused(tiny_sd: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        latent_space.encode(tiny_sd, **{"image": Image.open(SCENE), "timestep": 5, "seed": 0, **settings})
    with pytest.raises(ValueError, match=message):
        unet_levels.levels(tiny_sd, **{"image": Image.open(SCENE), "prompt": "", "timestep": 5, "seed": 0, **settings})


def test_one_step_is_timed_on_latents_and_on_pixels(tiny_sd: str, tiny_ddpm: str) -> None:
    timing = latent_space.step_timings(tiny_sd, tiny_ddpm)
    assert timing.latent_shape == (1, 4, 4, 4) and timing.pixel_shape == (1, 3, 8, 8)
    assert 0 < timing.latent_seconds < 10 and 0 < timing.pixel_seconds < 10


def test_each_level_of_the_unet_is_seen_once_and_the_hooks_go(tiny_sd: str) -> None:
    view = unet_levels.levels(tiny_sd, Image.open(SCENE), "a red circle", timestep=300, seed=0)
    # tiny UNet: down 4x4 (8 channels), down 2x2 (16, no downsampling after the last), mid, up 2x2, up 4x4
    places = [(level.path, level.index, level.channels, level.maps.shape) for level in view.levels]
    assert places == [
        ("down", 0, 8, (4, 4, 4)),
        ("down", 1, 16, (4, 2, 2)),
        ("mid", 0, 16, (4, 2, 2)),
        ("up", 0, 16, (4, 2, 2)),
        ("up", 1, 8, (4, 4, 4)),
    ]
    for level in view.levels:
        assert level.maps.min() >= 0 and level.maps.max() <= 1
    assert view.diagram.dtype == np.uint8 and view.diagram.ndim == 3
    unet = load_pipeline(tiny_sd, text_to_image.PIPELINE_CLASSES).unet
    assert not any(module._forward_hooks for module in unet.modules())
    later = unet_levels.levels(tiny_sd, Image.open(SCENE), "a red circle", timestep=900, seed=0)
    assert not np.array_equal(later.levels[0].maps, view.levels[0].maps)
    same = unet_levels.levels(tiny_sd, Image.open(SCENE), "a red circle", timestep=300, seed=0)
    np.testing.assert_array_equal(same.diagram, view.diagram)


def test_the_most_varying_channels_are_chosen() -> None:
    features = torch.zeros(6, 3, 3)
    features[4, 0, 0] = 5.0  # varies most
    features[1] = torch.arange(9.0).reshape(3, 3) / 100  # varies a little
    maps = unet_levels.most_varying(features, count=2)
    assert maps.shape == (2, 3, 3) and maps[0, 0, 0] == 1.0 and maps[0].sum() == 1.0
    np.testing.assert_allclose(maps[1].ravel(), np.arange(9) / 8, rtol=1e-6)
