"""pipelines/super_resolution.py on tiny random pipelines: diffusers' own result, any size, every step streamed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import register, tiny_super_resolution_unet
from diffusers import DDIMScheduler, LDMSuperResolutionPipeline
from PIL import Image

from pipelines import super_resolution
from pipelines.engine.frames import to_uint8_images
from pipelines.engine.loading import load_pipeline, make_scheduler
from pipelines.models.residual_super_resolution import ResidualSuperResolutionPipeline
from pipelines.super_resolution import generate, generate_steps, prepare

LATENT_KINDS = ["tiny_residual_super_resolution", "tiny_ldm_super_resolution"]  # the kinds run by the written-out loop


@pytest.fixture(scope="session")
def tiny_residual_super_resolution(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised ResidualSuperResolutionPipeline: a UNet taking the residual's 48 channels and the
    low-resolution image, 100-timestep DDIM on v-prediction."""
    torch.manual_seed(0)
    unet = tiny_super_resolution_unet(in_channels=51, out_channels=48)
    scheduler = DDIMScheduler(num_train_timesteps=100, prediction_type="v_prediction", clip_sample=False)
    path = tmp_path_factory.mktemp("tiny-residual-super-resolution")
    ResidualSuperResolutionPipeline(unet=unet, scheduler=scheduler, residual_scale=0.3).save_pretrained(path)
    return register(path)


def photo(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def test_the_residual_pipelines_own_call_gives_the_written_out_loops_image(tiny_residual_super_resolution: str):
    image = photo(16, 12)  # the plain call takes multiples of the UNet's 2
    plain = ResidualSuperResolutionPipeline.from_pretrained(tiny_residual_super_resolution)
    plain.set_progress_bar_config(disable=True)
    expected = plain(image, num_inference_steps=5, generator=torch.Generator().manual_seed(3), output_type="np")
    ours = generate(model=tiny_residual_super_resolution, image=image, steps=5, seed=3, consistent=False)
    expected_uint8 = (expected.images * 255).round().astype(np.uint8)
    assert ours.predicted_original.shape == expected_uint8.shape == (1, 48, 64, 3)
    assert np.abs(ours.predicted_original.astype(int) - expected_uint8).max() <= 1
    with pytest.raises(ValueError, match="multiples of 2"):
        plain(photo(15, 12))
    # the mean of 3 samples (the image as is, mirrored left-right, top-bottom), as the app draws it
    expected = plain(
        image, num_inference_steps=2, generator=torch.Generator().manual_seed(3), samples=3, output_type="np"
    )
    ours = generate(model=tiny_residual_super_resolution, image=image, steps=2, seed=3, consistent=False, samples=3)
    assert np.abs(ours.predicted_original.astype(int) - (expected.images * 255).round().astype(int)).max() <= 1


def test_the_residual_is_added_to_bicubic_upsampling(tiny_residual_super_resolution: str) -> None:
    pipeline = ResidualSuperResolutionPipeline.from_pretrained(tiny_residual_super_resolution)
    low_resolution = torch.rand(1, 3, 6, 8) * 2 - 1
    images = torch.rand(1, 3, 24, 32) * 2 - 1
    latents = pipeline.residual_latents(images, low_resolution)
    assert latents.shape == (1, 48, 6, 8)  # each 4x4 block of pixels as the channels of one position
    assert torch.allclose(pipeline.images_from_latents(latents, low_resolution), images, atol=1e-5)
    bicubic = pipeline.images_from_latents(torch.zeros_like(latents), low_resolution)  # no residual: bicubic
    assert torch.allclose(bicubic, torch.nn.functional.interpolate(low_resolution, scale_factor=4, mode="bicubic"))


def test_the_written_out_loop_gives_the_plain_pipelines_image(tiny_ldm_super_resolution: str) -> None:
    image = photo(32, 32)  # the plain pipeline takes multiples of 32 only
    plain = LDMSuperResolutionPipeline.from_pretrained(tiny_ldm_super_resolution)
    expected = plain(image, num_inference_steps=10, generator=torch.Generator().manual_seed(3), output_type="np")
    ours = generate(model=tiny_ldm_super_resolution, image=image, scheduler="DDIM", steps=10, seed=3, consistent=False)
    expected_uint8 = (expected.images * 255).round().astype(np.uint8)
    assert ours.predicted_original.shape == expected_uint8.shape == (1, 128, 128, 3)
    assert np.abs(ours.predicted_original.astype(int) - expected_uint8).max() <= 1


def test_mirrored_samples_flip_back_to_the_photo() -> None:
    image = torch.rand(1, 3, 5, 7)
    views = super_resolution.mirrored(image, 6)
    assert views.shape == (6, 3, 5, 7) and torch.equal(views[0], image[0]) and torch.equal(views[4], image[0])
    assert torch.equal(views[1], image[0].flip(-1)) and torch.equal(views[3], image[0].flip(-2, -1))
    assert torch.allclose(super_resolution.unmirrored_mean(views), image)  # the mean of six equal copies


@pytest.mark.parametrize("model", LATENT_KINDS)
def test_the_mean_of_samples_varies_less_from_seed_to_seed(model: str, request) -> None:
    """Each sample's result has the seed's noise in it; their mean (the posterior mean's estimate) much less."""
    settings = {"model": request.getfixturevalue(model), "image": photo(8, 8), "steps": 1, "consistent": False}

    def spread(samples: int) -> float:  # of the results over 6 seeds, per pixel, averaged
        results = [generate(**settings, seed=seed, samples=samples) for seed in range(6)]
        assert results[0].predicted_original.shape == (1, 32, 32, 3) and results[0].noisy_sample.shape[0] == 1
        return np.stack([result.predicted_original.astype(float) for result in results]).std(axis=0).mean()

    one, eight = spread(1), spread(8)
    assert eight < 0.6 * one, (one, eight)  # independent samples: 1/sqrt(8) = 0.35 of it


@pytest.mark.parametrize("samples", [0, 9, 2.5, True])
def test_samples_out_of_range_are_refused(tiny_residual_super_resolution: str, samples: int) -> None:
    with pytest.raises(ValueError, match="Samples averaged must be between 1 and 8; got"):
        generate(model=tiny_residual_super_resolution, image=photo(8, 8), samples=samples)
    plain = ResidualSuperResolutionPipeline.from_pretrained(tiny_residual_super_resolution)
    with pytest.raises(ValueError, match="samples must be a whole number of at least 1"):
        plain(photo(8, 8), samples=0)


@pytest.mark.parametrize("model", LATENT_KINDS)
def test_the_mean_of_mirrored_samples_of_any_size_is_the_mean_of_their_images(model: str, request) -> None:
    """Odd sizes: each sample's view is padded, mirrored, and its image mirrored back before the padding goes. A
    frame of the residual model keeps the mean's latents only (one sample's size), decoded to the same mean."""
    model = request.getfixturevalue(model)
    image = photo(13, 9)
    frames = list(generate_steps(model, image, steps=2, seed=5, consistent=False, samples=3))
    assert frames[-1].predicted_original.shape == frames[0].predicted_original.shape == (1, 36, 52, 3)
    shared = load_pipeline(model, super_resolution.PIPELINE_CLASSES)
    kept = frames[0].predicted_latents.shape[0]
    assert kept == (1 if isinstance(shared, ResidualSuperResolutionPipeline) else 3)
    # the first frame's x̂0, worked out here sample by sample: each view's own x̂0, mirrored back, averaged
    low_resolution = super_resolution.padded_tensor(image, multiple=2)
    views = super_resolution.mirrored(low_resolution, 3)
    scheduler = make_scheduler("DDIM", shared.scheduler.config)
    scheduler.set_timesteps(2)
    channels = shared.unet.config.in_channels - 3
    noise = torch.randn((3, channels, *low_resolution.shape[-2:]), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        output = shared.unet(torch.cat([noise, views], dim=1), scheduler.timesteps[0]).sample
        predicted = scheduler.step(output, scheduler.timesteps[0], noise).pred_original_sample
        if isinstance(shared, ResidualSuperResolutionPipeline):
            images = shared.images_from_latents(predicted, views)
        else:
            images = shared.vqvae.decode(predicted).sample
    expected = to_uint8_images(super_resolution.unmirrored_mean(images)[..., :36, :52])
    assert np.abs(frames[0].predicted_original.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("model", LATENT_KINDS)
@pytest.mark.parametrize("scheduler", ["DDIM", "DPM-Solver++", "Euler ancestral", "DDPM"])
def test_any_size_is_upscaled_4x_and_every_step_streams(model: str, scheduler: str, request) -> None:
    model = request.getfixturevalue(model)
    frames = list(generate_steps(model, photo(13, 9), scheduler=scheduler, steps=6, seed=0))
    assert [frame.step for frame in frames] == list(range(1, 7)) and frames[-1].is_last
    assert frames[-1].predicted_original.shape == (1, 36, 52, 3)  # padded to a multiple, cropped back
    assert frames[2].predicted_original.shape == (1, 36, 52, 3) and frames[2].noisy_sample.dtype == np.uint8
    assert frames[0].timestep > frames[-1].timestep


def test_same_seed_same_image_and_eta_adds_randomness(tiny_ldm_super_resolution: str) -> None:
    settings = {"model": tiny_ldm_super_resolution, "image": photo(16, 16), "steps": 5}
    first, again = generate(**settings, seed=1), generate(**settings, seed=1)
    assert np.array_equal(first.predicted_original, again.predicted_original)
    assert not np.array_equal(first.predicted_original, generate(**settings, seed=2).predicted_original)
    stochastic = generate(**settings, seed=1, eta=1.0)
    assert not np.array_equal(first.predicted_original, stochastic.predicted_original)


def test_closing_the_generator_ends_the_run(tiny_ldm_super_resolution: str) -> None:
    frames = generate_steps(tiny_ldm_super_resolution, photo(16, 16), steps=50)
    first = next(frames)
    frames.close()
    assert first.step == 1 and first.total_steps == 50


def test_stable_diffusion_upscaler_streams_through_its_legacy_callback(tiny_sd_upscaler: str) -> None:
    frames = list(
        generate_steps(tiny_sd_upscaler, photo(10, 7), scheduler="DDIM", steps=4, seed=0, prompt="a red circle")
    )
    assert [frame.step for frame in frames] == [1, 2, 3, 4]
    assert frames[-1].predicted_original.shape == (1, 28, 40, 3)
    assert frames[1].predicted_original.shape == (1, 28, 40, 3)  # x̂0 decoded by the upscaler's own VAE
    stopped = generate_steps(tiny_sd_upscaler, photo(10, 7), steps=40, seed=0)
    assert next(stopped).step == 1
    stopped.close()  # raises in the pipeline's callback: the worker thread ends
    with pytest.raises(ValueError, match="upscaler draws one sample: set Samples averaged to 1; got 2"):
        generate_steps(tiny_sd_upscaler, photo(10, 7), samples=2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 0}, "Steps must be between 1 and"),
        ({"steps": 101}, "Steps must be between 1 and 100"),
        ({"eta": 1.5}, "Eta must be between 0"),
        ({"noise_level": 400}, "Noise level must be between 0 and 350"),
        ({"guidance_scale": 0.5}, "Guidance scale must be between 1"),
        ({"seed": -1}, "Seed must be between"),
        ({"scheduler": "Nope"}, "Unknown scheduler 'Nope'"),
        ({"image": None}, "needs an image"),
        ({"model": "no/such-model"}, "not in this app's catalogue"),
    ],
)
def test_bad_settings_are_refused_with_the_allowed_values(
    tiny_ldm_super_resolution: str, settings: dict, message: str
) -> None:
    call = {"model": tiny_ldm_super_resolution, "image": photo(16, 16), **settings}
    with pytest.raises(ValueError, match=message):
        next(iter(generate_steps(**call)))


def test_prepare_converts_uploads_and_reduces_huge_ones() -> None:
    image, notices = prepare(photo(20, 20, mode="RGBA"))
    assert image.mode == "RGB" and notices == []  # opaque RGBA: converted silently
    image, notices = prepare(photo(20, 20, mode="L"))
    assert image.mode == "RGB" and "converted to 8-bit RGB" in notices[0]
    sixteen_bit = Image.fromarray(np.full((20, 30), 40_000, dtype=np.uint16))
    image, notices = prepare(sixteen_bit)
    assert image.mode == "RGB" and image.getpixel((0, 0))[0] == round(40_000 / 65535 * 255)
    image, notices = prepare(photo(400, 200))
    assert image.width * image.height <= super_resolution.MAX_INPUT_PIXELS and "reduced from 400×200" in notices[0]
    assert abs(image.width / image.height - 2) < 0.05  # the aspect ratio is kept


@pytest.mark.parametrize("size", [(1, 1), (7, 100)])
def test_prepare_refuses_images_too_small_to_upscale(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="needs at least 8×8"):
        prepare(photo(*size))
    with pytest.raises(ValueError, match="Upload a photo"):
        prepare(None)


def shrunk(images: np.ndarray) -> np.ndarray:
    """The result shrunk 4x again, as the model's inputs are made (Pillow's bicubic filter)."""
    image = Image.fromarray(images[0])
    return np.asarray(image.resize((image.width // 4, image.height // 4), Image.Resampling.BICUBIC)).astype(int)


@pytest.mark.parametrize("model", [*LATENT_KINDS, "tiny_sd_upscaler"])
def test_back_projection_makes_the_result_shrink_back_to_the_input(model: str, request) -> None:
    image = photo(6, 5).resize((24, 20), Image.Resampling.BICUBIC)  # smooth, as photos are
    settings = {"model": request.getfixturevalue(model), "image": image, "steps": 3, "seed": 0}
    raw = generate(**settings, consistent=False).predicted_original
    frames = list(generate_steps(**settings))  # consistent by default, the streamed x̂0 views as well as the result

    def error(images: np.ndarray) -> float:  # mean absolute difference, of 255
        return np.abs(shrunk(images) - np.asarray(image)).mean()

    assert frames[-1].predicted_original.shape == raw.shape == (1, 80, 96, 3)
    assert error(frames[-1].predicted_original) < 2 and error(frames[0].predicted_original) < 2
    assert error(raw) > 5  # a random model: far from it (bicubic plus its residual, for the residual kind)
