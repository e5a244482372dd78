"""pipelines/unconditional.py on a tiny random DDPM: the same images as diffusers, every step streamed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from diffusers import DDIMPipeline, DDPMPipeline, DDPMScheduler

from pipelines import unconditional
from pipelines.engine.loading import SCHEDULERS, load_pipeline, make_scheduler, max_steps
from pipelines.engine.sampling import predict_original
from pipelines.unconditional import PIPELINE_CLASSES, generate, generate_steps


def diffusers_images(pipeline, seed: int, steps: int, batch_size: int, **options) -> np.ndarray:
    output = pipeline(
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=steps,
        output_type="np",
        **options,
    )
    return np.round(output.images * 255)  # [0, 1] floats -> the wrapper's uint8 scale


@pytest.mark.parametrize("name, pipeline_class", [("DDPM", DDPMPipeline), ("DDIM", DDIMPipeline)])
def test_same_images_as_the_plain_diffusers_pipeline(tiny_ddpm: str, name: str, pipeline_class) -> None:
    shared = load_pipeline(tiny_ddpm, PIPELINE_CLASSES)
    pipeline = pipeline_class(unet=shared.unet, scheduler=make_scheduler(name, shared.scheduler.config))
    expected = diffusers_images(pipeline, seed=3, steps=10, batch_size=2)
    frame = generate(
        model=tiny_ddpm, scheduler=name, steps=10, batch_size=2, generator=torch.Generator().manual_seed(3)
    )
    assert frame.predicted_original.shape == expected.shape == (2, 8, 8, 3)
    assert np.abs(frame.predicted_original.astype(float) - expected).max() <= 1  # float rounding at most


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_every_scheduler_yields_one_frame_per_step(tiny_ddpm: str, scheduler: str) -> None:
    frames = list(generate_steps(model=tiny_ddpm, scheduler=scheduler, steps=4, seed=0, batch_size=3))
    expected_steps = 7 if scheduler == "Heun" else 4  # Heun calls the model twice per step but the last
    assert [frame.step for frame in frames] == list(range(1, expected_steps + 1))
    assert all(frame.total_steps == expected_steps for frame in frames)
    assert frames[0].timestep > frames[-1].timestep
    assert all(a.elapsed <= b.elapsed for a, b in zip(frames, frames[1:]))
    for frame in frames:
        assert frame.noisy_sample.shape == frame.predicted_original.shape == (3, 8, 8, 3)
        assert frame.noisy_sample.dtype == frame.predicted_original.dtype == np.uint8
    assert frames[-1].is_last and not frames[0].is_last


def test_same_seed_same_images_and_one_seed_per_image(tiny_ddpm: str) -> None:
    settings = {"model": tiny_ddpm, "scheduler": "Euler ancestral", "steps": 5}
    batch = generate(**settings, seed=7, batch_size=3).predicted_original
    assert np.array_equal(batch, generate(**settings, seed=7, batch_size=3).predicted_original)
    assert not np.array_equal(batch, generate(**settings, seed=8, batch_size=3).predicted_original)
    # image i of a batch is drawn with seed + i, so any image of a grid can be made again alone
    assert np.array_equal(batch[2], generate(**settings, seed=9, batch_size=1).predicted_original[0])


def test_requests_do_not_share_scheduler_state(tiny_ddpm: str) -> None:
    """Two runs of one multistep solver, stepped in turn, give what each gives alone."""
    seeds = (1, 2)
    alone = [
        generate(model=tiny_ddpm, scheduler="DPM-Solver++", steps=6, seed=seed).predicted_original for seed in seeds
    ]
    interleaved = [generate_steps(model=tiny_ddpm, scheduler="DPM-Solver++", steps=6, seed=seed) for seed in seeds]
    last = [None, None]
    for frames in zip(*interleaved):
        last = [frame.predicted_original for frame in frames]
    assert all(np.array_equal(a, b) for a, b in zip(alone, last)) and not np.array_equal(*alone)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_predict_original_inverts_the_forward_process(prediction_type: str) -> None:
    scheduler = DDPMScheduler(num_train_timesteps=100, prediction_type=prediction_type)
    original, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    timestep = torch.tensor([40])
    noisy = scheduler.add_noise(original, noise, timestep)
    model_output = {
        "epsilon": noise,
        "v_prediction": scheduler.get_velocity(original, noise, timestep),
        "sample": original,
    }[prediction_type]
    recovered = predict_original(noisy, model_output, scheduler.alphas_cumprod[40], prediction_type)
    torch.testing.assert_close(recovered, original, atol=1e-4, rtol=1e-4)


def test_x0_estimate_streamed_by_the_solver_matches_ddim(tiny_ddpm: str) -> None:
    """DPM-Solver++ reports no x̂0, so the wrapper computes it; at the first step both samplers see the same x_T."""
    first = [
        next(generate_steps(model=tiny_ddpm, scheduler=name, steps=5, seed=2)) for name in ("DDIM", "DPM-Solver++")
    ]
    # DDIM clips its x̂0 to [-1, 1]; the uint8 frames are clipped alike, so both must agree to rounding
    assert np.abs(first[0].predicted_original.astype(int) - first[1].predicted_original).max() <= 1


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"steps": 0}, "Steps must be between 1 and 100"),
        ({"steps": 101}, "Steps must be between 1 and 100"),
        ({"batch_size": 0}, "Batch size must be between 1 and 8"),
        ({"batch_size": 9}, "Batch size must be between 1 and 8"),
        ({"seed": -1}, "Seed must be between 0 and"),
        ({"scheduler": "Magic"}, "Unknown scheduler 'Magic'; choose one of: DPM-Solver++"),
        ({"model": "/no/such/folder"}, "not in this app's catalogue"),
        ({"model": ""}, "not in this app's catalogue"),
    ],
)
def test_bad_settings_say_what_is_allowed(tiny_ddpm: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(**{"model": tiny_ddpm, "scheduler": "DDPM", "steps": 3, **settings})


def test_multistep_solvers_stop_one_short_with_leading_spacing(tiny_ddpm: str) -> None:
    config = load_pipeline(tiny_ddpm, PIPELINE_CLASSES).scheduler.config
    assert config.timestep_spacing == "leading"
    assert max_steps("DPM-Solver++", config) == 99 and max_steps("DDPM", config) == 100
    assert generate(model=tiny_ddpm, scheduler="DPM-Solver++", steps=99).step == 99
    assert generate(model=tiny_ddpm, scheduler="DDPM", steps=100).step == 100


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_first_x0_estimate_agrees_across_schedulers_on_a_v_prediction_model(
    tiny_shapes_ddpm: str, scheduler: str
) -> None:
    """The app's own model kind (v-prediction, cosine, trailing): every sampler starts at t = T-1 from the same
    noise (Euler-type ones scaled by sigma_max and back), so its first x̂0 must be DDIM's, whether the scheduler
    reports it or the wrapper computes it."""
    first = next(generate_steps(model=tiny_shapes_ddpm, scheduler=scheduler, steps=5, seed=4, batch_size=2))
    reference = next(generate_steps(model=tiny_shapes_ddpm, scheduler="DDIM", steps=5, seed=4, batch_size=2))
    assert first.timestep == reference.timestep == 999
    assert np.abs(first.predicted_original.astype(int) - reference.predicted_original).max() <= 2
    assert np.abs(first.noisy_sample.astype(int) - reference.noisy_sample).max() <= 2


def test_a_model_of_another_tab_is_refused(tiny_sd: str) -> None:
    with pytest.raises(ValueError, match="not in this app's catalogue"):
        generate(model=tiny_sd)


def test_large_images_stream_as_previews_and_end_full_size(tiny_ddpm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unconditional, "PREVIEW_SIZE", 4)
    frames = list(generate_steps(model=tiny_ddpm, scheduler="DDIM", steps=3, batch_size=2))
    assert all(frame.noisy_sample.shape == (2, 4, 4, 3) for frame in frames)
    assert [frame.predicted_original.shape[1] for frame in frames] == [4, 4, 8]


def test_grey_models_stream_rgb_frames(tiny_grey_ddpm: str) -> None:
    frame = generate(model=tiny_grey_ddpm, scheduler="DDIM", steps=2)
    assert frame.predicted_original.shape == (1, 8, 8, 3)
    assert np.array_equal(frame.predicted_original[..., 0], frame.predicted_original[..., 2])
