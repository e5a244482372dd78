"""pipelines/forward_process.py: the closed-form forward process, the schedules, SNR, and ε̂ from any model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import save_tiny_ddpm
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, EulerDiscreteScheduler
from PIL import Image

from pipelines import forward_process
from pipelines.engine.sampling import log_signal_to_noise

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
PHOTO = Image.open(EXAMPLES / "photo-chelsea.png")  # 64x64 RGB
SCENE = Image.open(EXAMPLES / "scene-1.png")  # 256x256, the shapes the embedded model was trained on
NAMED = ("linear", "scaled linear", "cosine")


def test_x_t_at_t_0_is_x_0_up_to_one_step_of_noise() -> None:
    # diffusers' t = 0 is DDPM's t = 1: x_0 plus sqrt(1 - abar_0) of the noise, a few grey levels at most
    for schedule in (*NAMED, "model"):
        alpha_prod = forward_process.alphas_cumprod(schedule)[0]
        view = forward_process.forward(PHOTO, 0, schedule, seed=3)
        assert view.alpha_prod == alpha_prod and view.noisy_sample.shape == (64, 64, 3)
        noise = forward_process.seeded_noise((1, 3, 64, 64), 3).abs()
        shrink = 1 - alpha_prod**0.5  # of x_0, at most 1 of [-1, 1]
        difference = np.abs(view.noisy_sample.astype(int) - np.asarray(PHOTO, int))
        assert difference.max() <= 127.5 * ((1 - alpha_prod) ** 0.5 * noise.max().item() + shrink) + 1, schedule
        assert difference.mean() <= 127.5 * ((1 - alpha_prod) ** 0.5 * noise.mean().item() + shrink) + 0.5, schedule
        assert difference.mean() < 4
    clean = torch.rand(1, 3, 4, 4) * 2 - 1
    assert torch.equal(forward_process.noisy_sample(clean, 1.0, torch.randn(1, 3, 4, 4)), clean)


@pytest.mark.parametrize("schedule", [*NAMED, "model"])
def test_alphas_cumprod_decrease_and_match_diffusers(schedule: str) -> None:
    alphas_cumprod = forward_process.alphas_cumprod(schedule)
    assert len(alphas_cumprod) == 1000 and np.all(np.diff(alphas_cumprod) < 0)
    assert 0.999 < alphas_cumprod[0] < 1 and alphas_cumprod[-1] < 0.005
    if schedule == "model":
        settings = DDPMPipeline.from_pretrained("assets/models/shapes-ddpm").scheduler.config
    else:
        settings = forward_process.SCHEDULES[schedule]
    for scheduler_class in (DDPMScheduler, DDIMScheduler, EulerDiscreteScheduler):
        np.testing.assert_allclose(alphas_cumprod, scheduler_class.from_config(settings).alphas_cumprod, rtol=1e-6)


def test_schedules_follow_their_formulas() -> None:
    linear = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))  # DDPM
    scaled_linear = np.cumprod(1 - np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2)  # Stable Diffusion
    f = np.cos((np.arange(1001) / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2  # Nichol & Dhariwal 2021, eq. 17
    cosine = np.cumprod(1 - np.minimum(1 - f[1:] / f[:-1], 0.999))
    for schedule, expected in zip(NAMED, (linear, scaled_linear, cosine)):
        np.testing.assert_allclose(forward_process.alphas_cumprod(schedule), expected, rtol=1e-4, err_msg=schedule)
    # the cosine schedule keeps more of the signal through the first half
    assert np.all(forward_process.alphas_cumprod("cosine")[50:600] > forward_process.alphas_cumprod("linear")[50:600])


def test_x_t_over_many_seeds_has_mean_sqrt_abar_x_0_and_variance_1_minus_abar() -> None:
    clean = torch.linspace(-1, 1, 48).reshape(1, 3, 4, 4)
    alpha_prod = forward_process.alphas_cumprod("linear")[300]
    samples = torch.cat(
        [
            forward_process.noisy_sample(clean, alpha_prod, forward_process.seeded_noise(clean.shape, seed))
            for seed in range(4000)
        ]
    ).double()
    standard_error = (1 - alpha_prod) ** 0.5 / 4000**0.5
    assert (samples.mean(0) - alpha_prod**0.5 * clean[0]).abs().max() < 4.5 * standard_error
    np.testing.assert_allclose(samples.var(0).numpy(), 1 - alpha_prod, rtol=0.12)
    np.testing.assert_allclose(samples.var(0).mean().item(), 1 - alpha_prod, rtol=0.02)


def test_log_snr_is_its_formula() -> None:
    for schedule in NAMED:
        alphas_cumprod = forward_process.alphas_cumprod(schedule)
        log_snr = log_signal_to_noise(alphas_cumprod)
        np.testing.assert_allclose(np.exp(log_snr), alphas_cumprod / (1 - alphas_cumprod), rtol=1e-9)
        assert np.all(np.diff(log_snr) < 0)
    assert log_signal_to_noise(np.array([0.5, 0.0]))[0] == 0
    assert log_signal_to_noise(np.array([0.5, 0.0]))[1] == -np.inf  # a zero-SNR schedule's end


def test_the_noise_is_fixed_by_the_seed_so_the_slider_is_continuous() -> None:
    def view(timestep: int, seed: int = 1) -> np.ndarray:
        return forward_process.forward(PHOTO, timestep, "linear", seed).noisy_sample.astype(int)

    assert np.array_equal(view(400), view(400))
    assert np.abs(view(400) - view(401)).mean() < 1 < np.abs(view(400) - view(400, seed=2)).mean()


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon", "sample"])
def test_x_0_from_the_converted_noise_matches_the_schedulers_own(tmp_path, prediction_type: str) -> None:
    path = save_tiny_ddpm(tmp_path, num_train_timesteps=100, prediction_type=prediction_type, clip_sample=False)
    pipeline = DDPMPipeline.from_pretrained(path)
    clean = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for timestep in (1, 30, 70, 99):
        alpha_prod = float(pipeline.scheduler.alphas_cumprod[timestep])
        noise = forward_process.seeded_noise(clean.shape, timestep)
        prediction = forward_process.predict_at(pipeline.unet, prediction_type, alpha_prod, clean, timestep, noise)
        with torch.no_grad():
            output = pipeline.unet(prediction.noisy_sample, timestep).sample
        expected = pipeline.scheduler.step(output, timestep, prediction.noisy_sample).pred_original_sample
        torch.testing.assert_close(prediction.predicted_original, expected, atol=2e-4, rtol=1e-4)
        # and x_t is what the scheduler's own add_noise makes
        noisy = pipeline.scheduler.add_noise(clean, noise, torch.tensor([timestep]))
        torch.testing.assert_close(prediction.noisy_sample, noisy, atol=1e-5, rtol=1e-5)
        error = (prediction.predicted_noise - noise).pow(2).mean().item()
        assert prediction.error == pytest.approx(error)


def test_the_embedded_model_predicts_the_noise_and_pictures_keep_the_images_size() -> None:
    prediction = forward_process.predict_noise(SCENE, 500, seed=0)
    assert prediction.prediction_type == "v_prediction" and prediction.model_size == (32, 32)
    for picture in (
        prediction.noisy_sample,
        prediction.noise,
        prediction.predicted_noise,
        prediction.predicted_original,
    ):
        assert picture.shape == (256, 256, 3) and picture.dtype == np.uint8
    assert "resized from 256×256 to 32×32" in prediction.notices[0] and "back to 256×256" in prediction.notices[0]
    assert prediction.error < 0.5  # predicting 0 would score 1: the model knows much of the noise
    # x̂0 is nearer to the scene than x_t is
    scene = np.asarray(SCENE.convert("RGB").resize((32, 32), Image.Resampling.LANCZOS).resize((256, 256), 0), int)
    assert np.abs(prediction.predicted_original - scene).mean() < np.abs(prediction.noisy_sample - scene).mean()


def test_a_model_of_another_t_and_grey_images(tmp_path) -> None:
    path = save_tiny_ddpm(tmp_path, channels=1, num_train_timesteps=100)
    prediction = forward_process.predict_noise(Image.new("RGB", (20, 12), (200, 10, 10)), 99, 0, model=path)
    assert prediction.noisy_sample.shape == (12, 20, 3) and prediction.model_size == (8, 4)
    assert np.all(prediction.noise[..., 0] == prediction.noise[..., 2])  # one channel, shown grey
    with pytest.raises(ValueError, match="between 0 and 99"):
        forward_process.predict_noise(PHOTO, 100, 0, model=path)
    assert len(forward_process.alphas_cumprod("model", path)) == 100
    assert forward_process.strip_timesteps(100) == [0, 5, 10, 25, 50, 74, 99]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((PHOTO, 1000, "linear", 0), "between 0 and 999"),
        ((PHOTO, -1, "linear", 0), "between 0 and 999"),
        ((PHOTO, 10, "quadratic", 0), "Unknown schedule 'quadratic'; choose one of: linear, scaled linear"),
        ((PHOTO, 10, "linear", -1), "Seed must be between 0 and"),
        ((PHOTO, 10, "linear", 2**32), "Seed must be between 0 and"),
        ((None, 10, "linear", 0), "Choose an example image or upload one"),
    ],
)
def test_bad_input_says_what_is_allowed(arguments: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forward_process.forward(*arguments)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "CMYK", "I;16", "1"])
def test_any_mode_is_converted_with_a_notice(mode: str) -> None:
    grey_16_bit = Image.fromarray(np.asarray(PHOTO.convert("L"), np.uint16) * 257, "I;16")
    image = grey_16_bit if mode == "I;16" else PHOTO.convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(128)  # opaque RGBA is what the image editor sends: converted without a word
    view = forward_process.forward(image, 10, "cosine", 0)
    assert view.noisy_sample.shape == (64, 64, 3) and f"was {mode}" in view.notices[0]


def test_large_images_are_reduced_with_a_notice() -> None:
    view = forward_process.forward(PHOTO.resize((2000, 1000)), 10, "cosine", 0)
    assert view.noisy_sample.shape == (256, 512, 3)
    assert view.notices == ["The image was reduced from 2000×1000 to 512×256."]
    strip = forward_process.strip(PHOTO.resize((2000, 1000)), "cosine", 0)
    assert [timestep for timestep, _ in strip] == list(forward_process.STRIP_TIMESTEPS)
    assert all(picture.shape == (64, 128, 3) for _, picture in strip)
