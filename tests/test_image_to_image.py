"""pipelines/image_to_image.py on tiny random models: strength 0 is the input, strength 1 the plain run from noise,
the steps that run, the jump to x_t in closed form, bad inputs refused with messages, and the strength sweep."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image, ImageDraw

from pipelines import forward_process, grids, image_to_image, text_to_image, unconditional
from pipelines.engine.loading import load_pipeline, make_scheduler


def drawing(size: int = 64, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (size, size))
    ImageDraw.Draw(image).ellipse((size // 8, size // 4, size // 2, size * 3 // 4), fill=(220, 40, 40))
    return image.convert(mode)


@pytest.fixture(params=["pixel", "latent"])
def model(request: pytest.FixtureRequest, tiny_ddpm: str, tiny_sd: str) -> str:
    return tiny_ddpm if request.param == "pixel" else tiny_sd


def test_prepare_makes_the_input_the_models_size_in_rgb(tiny_ddpm: str, tiny_sd: str) -> None:
    image, notices = image_to_image.prepare(drawing(mode="RGBA"), tiny_ddpm)
    assert image.size == (8, 8) and image.mode == "RGB" and "resized from 64×64 to 8×8" in notices[-1]
    assert image_to_image.prepare(drawing(), tiny_sd)[0].size == (16, 16)


def test_strength_0_returns_the_input_exactly_without_a_model_call(model: str, monkeypatch) -> None:
    image, _ = image_to_image.prepare(drawing(), model)

    def no_model(*args, **kwargs):
        raise AssertionError("strength 0 called the model")

    monkeypatch.setattr(unconditional, "sample_frames", no_model)
    monkeypatch.setattr(StableDiffusionImg2ImgPipeline, "__call__", no_model)
    frames = list(image_to_image.generate_steps(model, image, strength=0, batch_size=2, seed=1))
    assert len(frames) == 1 and frames[0].is_last and frames[0].total_steps == 0
    for result in frames[0].predicted_original:
        np.testing.assert_array_equal(result, np.asarray(image))


@pytest.mark.parametrize("scheduler", ["DPM-Solver++ SDE", "Euler ancestral", "DDIM"])
def test_strength_1_is_the_plain_run_from_pure_noise_with_the_same_seed(
    tiny_ddpm: str, tiny_sd: str, scheduler
) -> None:
    """Unconditional and Text to image draw the same images for the same seed: the drawing is forgotten entirely."""
    settings = {"scheduler": scheduler, "steps": 6, "seed": 11, "batch_size": 2}
    image, _ = image_to_image.prepare(drawing(), tiny_ddpm)
    finished = image_to_image.generate(model=tiny_ddpm, image=image, strength=1.0, **settings)
    plain = unconditional.generate(model=tiny_ddpm, **settings)
    np.testing.assert_array_equal(finished.predicted_original, plain.predicted_original)

    image, _ = image_to_image.prepare(drawing(), tiny_sd)
    prompt = {"prompt": "a red circle", "guidance_scale": 3.0}
    finished = image_to_image.generate(model=tiny_sd, image=image, strength=1.0, **prompt, **settings)
    plain = text_to_image.generate(model=tiny_sd, **prompt, **settings)
    np.testing.assert_array_equal(finished.predicted_original, plain.predicted_original)


def test_diffusers_img2img_at_strength_1_would_not_be_the_plain_run(tiny_sd: str) -> None:
    """Why strength 1 runs the text-to-image pipeline: diffusers' img2img keeps sqrt(ᾱ_T) of the input's latents."""
    image, _ = image_to_image.prepare(drawing(), tiny_sd)
    settings = {"prompt": "", "num_inference_steps": 4, "output_type": "np"}
    img2img = text_to_image.request_pipeline(tiny_sd, "DDIM", StableDiffusionImg2ImgPipeline)
    by_img2img = img2img(image=image, strength=1.0, generator=torch.Generator().manual_seed(0), **settings).images
    plain = text_to_image.request_pipeline(tiny_sd, "DDIM")(generator=torch.Generator().manual_seed(0), **settings)
    assert not np.array_equal(by_img2img, plain.images)


@pytest.mark.parametrize("steps, strength", [(10, 0.6), (25, 0.3), (100 - 1, 0.29), (7, 0.15), (5, 1.0)])
def test_the_steps_that_run_are_int_steps_times_strength_as_in_diffusers(model: str, steps: int, strength: float):
    image, _ = image_to_image.prepare(drawing(), model)
    frames = list(image_to_image.generate_steps(model, image, strength=strength, scheduler="DDIM", steps=steps))
    expected = int(steps * strength)
    assert image_to_image.steps_run(steps, strength) == expected
    assert [frame.step for frame in frames] == list(range(expected + 1))  # the jump (step 0), then every step
    assert all(frame.total_steps == expected for frame in frames)
    # the same count as diffusers' own img2img (its get_timesteps, on this model's schedule): 99 x 0.29 = 28.71 -> 28
    scheduler = make_scheduler("DDIM", load_pipeline(model, image_to_image.PIPELINE_CLASSES).scheduler.config)
    scheduler.set_timesteps(steps)
    get_timesteps = StableDiffusionImg2ImgPipeline.get_timesteps
    assert get_timesteps(SimpleNamespace(scheduler=scheduler), steps, strength, "cpu")[1] == expected


def test_the_first_frame_is_the_input_jumped_to_x_t_in_closed_form(tiny_ddpm: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_ddpm)
    frames = list(image_to_image.generate_steps(tiny_ddpm, image, strength=0.5, scheduler="DDIM", steps=10, seed=4))
    jump = frames[0]
    scheduler = make_scheduler("DDIM", load_pipeline(tiny_ddpm, image_to_image.PIXEL_CLASSES).scheduler.config)
    scheduler.set_timesteps(10)
    assert jump.step == 0 and jump.timestep == int(scheduler.timesteps[5])  # half the steps skipped
    noise = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(4))
    alpha_prod = scheduler.alphas_cumprod[jump.timestep]
    closed_form = forward_process.noisy_sample(forward_process.to_tensor(image), alpha_prod, noise)
    expected = ((closed_form.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(jump.noisy_sample[0].astype(int) - expected.astype(int)).max() <= 1
    np.testing.assert_array_equal(jump.predicted_original[0], np.asarray(image))  # x0: the input
    np.testing.assert_array_equal(jump.noisy_sample, frames[1].noisy_sample)  # what the model saw first


def test_a_latent_runs_first_frame_is_the_x_t_diffusers_starts_from(tiny_sd: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_sd)
    for scheduler in ("DPM-Solver++", "Euler"):
        frames = list(
            image_to_image.generate_steps(tiny_sd, image, "a red circle", strength=0.6, scheduler=scheduler, steps=10)
        )
        assert frames[0].step == 0 and frames[0].timestep == frames[1].timestep
        np.testing.assert_array_equal(frames[0].noisy_sample, frames[1].noisy_sample)
        np.testing.assert_array_equal(frames[0].predicted_original[0], np.asarray(image))


def test_low_strength_keeps_the_input_closer_than_high_strength(tiny_ddpm: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_ddpm)
    original = np.asarray(image, dtype=float)
    changes = []
    for strength in (0.1, 0.9):
        result = image_to_image.generate(model=tiny_ddpm, image=image, strength=strength, scheduler="DDIM", steps=20)
        changes.append(np.abs(result.predicted_original[0] - original).mean())
    assert changes[0] < changes[1]


def test_the_strength_line_says_where_the_run_starts(tiny_ddpm: str) -> None:
    text = image_to_image.start_text(tiny_ddpm, "DDIM", 10, 0.5)
    assert text.startswith("Strength 0.5: starts at t = ") and text.endswith("runs 5 of 10 steps.")
    assert "× input" in text
    assert "no step runs" in image_to_image.start_text(tiny_ddpm, "DDIM", 10, 0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"strength": -0.1}, "Strength must be a number from 0"),
        ({"strength": 1.5}, "Strength must be a number from 0"),
        ({"strength": "half"}, "Strength must be a number from 0"),
        ({"strength": True}, "Strength must be a number from 0"),
        ({"strength": 0.3, "steps": 2}, r"At strength 0.3, 2 steps run none .* at least 4 .* at least 0.5"),
        ({"image": None}, "There is no image"),
        ({"model": "photo-sr-4x"}, "not in this app's catalogue"),
        ({"scheduler": "Magic"}, "Unknown scheduler"),
        ({"steps": 5000}, "Steps must be between 1 and"),
        ({"seed": -1}, "Seed must be between"),
    ],
)
def test_bad_settings_are_refused_with_a_message(model: str, overrides: dict, message: str) -> None:
    image, _ = image_to_image.prepare(drawing(), model)
    settings = {"model": model, "image": image, "strength": 0.5, "scheduler": "DDIM", "steps": 10, **overrides}
    with pytest.raises(ValueError, match=message):
        image_to_image.generate(**settings)


def test_an_empty_canvas_and_a_model_of_another_task_are_refused(tiny_ddpm: str, tiny_sd_inpainting: str) -> None:
    with pytest.raises(ValueError, match="The canvas is empty"):
        image_to_image.prepare(Image.new("RGB", (128, 128)), tiny_ddpm)
    with pytest.raises(ValueError, match="There is no image"):
        image_to_image.prepare(None, tiny_ddpm)
    with pytest.raises(ValueError, match="not in this app's catalogue"):
        image_to_image.prepare(drawing(), tiny_sd_inpainting)


def test_a_guidance_scale_out_of_range_is_refused_for_a_text_model(tiny_sd: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_sd)
    with pytest.raises(ValueError, match="Guidance scale must be between 1"):
        image_to_image.generate(model=tiny_sd, image=image, guidance_scale=50.0, strength=0.5)


def test_a_pixel_model_says_it_ignores_the_prompt(tiny_ddpm: str, tiny_sd: str) -> None:
    assert "ignores the prompt" in image_to_image.prompt_notices(tiny_ddpm, "a red circle", "")[0]
    assert image_to_image.prompt_notices(tiny_ddpm, "", "") == []
    assert image_to_image.prompt_notices(tiny_sd, "", "") == []  # an empty prompt: the drawing alone
    assert "never saw the word(s) zebra" in image_to_image.prompt_notices(tiny_sd, "a zebra", "")[0]


def test_the_strength_sweep_cells_are_the_single_runs_of_their_strengths(tiny_ddpm: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_ddpm)
    sweep = list(grids.strength_sweep_steps(tiny_ddpm, image, "", 3, "0, 0.5, 1", "DDIM", 6))
    last = sweep[-1]
    assert last.is_last and last.labels == ("strength 0", "strength 0.5", "strength 1")
    assert [len(step.images) for step in sweep if step.frame.is_last] == [1, 2, 3]
    np.testing.assert_array_equal(last.images[0], np.asarray(image))  # strength 0: the input
    for strength, cell in zip((0.5, 1.0), last.images[1:]):
        single = image_to_image.generate(
            model=tiny_ddpm, image=image, strength=strength, scheduler="DDIM", steps=6, seed=3
        )
        np.testing.assert_array_equal(cell, single.predicted_original[0])


@pytest.mark.parametrize(
    "strengths, message",
    [("0.2, 2", "“2” is not a strength: give numbers from 0 \\(keep the input\\) to 1"), ("", "at least one")],
)
def test_bad_strengths_of_a_sweep_say_what_is_allowed(tiny_ddpm: str, strengths: str, message: str) -> None:
    image, _ = image_to_image.prepare(drawing(), tiny_ddpm)
    with pytest.raises(ValueError, match=message):
        next(grids.strength_sweep_steps(tiny_ddpm, image, "", 0, strengths, "DDIM", 6))
