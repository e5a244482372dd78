"""pipelines/text_to_image.py on a tiny random Stable Diffusion: diffusers' own images, every step streamed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from pipelines import text_to_image
from pipelines.engine.loading import SCHEDULERS, load_pipeline, make_scheduler
from pipelines.text_to_image import generate, generate_steps, known_words, prompt_notices
from train.shapes import COLOURS, POSITIONS, SHAPES, SIZES

PROMPT = "a small red circle on the left"


def diffusers_images(model: str, scheduler: str, steps: int, seed: int, batch_size: int, **options) -> np.ndarray:
    """The plain pipeline call, seeded as the app seeds a batch."""
    pipeline = StableDiffusionPipeline.from_pretrained(model)
    pipeline.scheduler = make_scheduler(scheduler, pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    generators = [torch.Generator().manual_seed(seed + index) for index in range(batch_size)]
    output = pipeline(
        num_inference_steps=steps, num_images_per_prompt=batch_size, generator=generators, output_type="np", **options
    )
    return (output.images * 255).round().astype(np.uint8)


@pytest.mark.parametrize("scheduler", ["DPM-Solver++", "Euler ancestral"])
def test_streamed_images_are_the_plain_pipelines_images(tiny_sd: str, scheduler: str) -> None:
    options = {"prompt": PROMPT, "negative_prompt": "a blue square", "guidance_scale": 4.0}
    frame = generate(model=tiny_sd, scheduler=scheduler, steps=6, seed=3, batch_size=2, **options)
    expected = diffusers_images(tiny_sd, scheduler, steps=6, seed=3, batch_size=2, **options)
    assert frame.predicted_original.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(frame.predicted_original, expected)


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_every_scheduler_yields_one_frame_per_step(tiny_sd: str, scheduler: str) -> None:
    frames = list(generate_steps(model=tiny_sd, prompt=PROMPT, scheduler=scheduler, steps=4, batch_size=2))
    assert [frame.step for frame in frames] == list(range(1, len(frames) + 1))
    assert frames[-1].is_last and frames[-1].total_steps == len(frames) >= 4
    assert all(frame.noisy_sample.shape == (2, 9, 9, 3) for frame in frames)  # 4 channels of 4x4, 2x2 grid
    assert all(frame.predicted_original.shape == (2, 16, 16, 3) for frame in frames)
    assert [frame.timestep for frame in frames] == sorted((frame.timestep for frame in frames), reverse=True)


def test_same_seed_same_images_and_image_i_uses_seed_plus_i(tiny_sd: str) -> None:
    batch = generate(model=tiny_sd, prompt=PROMPT, steps=3, seed=10, batch_size=2).predicted_original
    again = generate(model=tiny_sd, prompt=PROMPT, steps=3, seed=10, batch_size=2).predicted_original
    second_alone = generate(model=tiny_sd, prompt=PROMPT, steps=3, seed=11, batch_size=1).predicted_original
    np.testing.assert_array_equal(batch, again)
    # Alone, the UNet sees a batch of another size, whose float sums may round differently: 1/255 at most.
    assert np.abs(batch[1].astype(int) - second_alone[0]).max() <= 1


def test_closing_the_stream_interrupts_only_that_run(tiny_sd: str) -> None:
    solo = generate(model=tiny_sd, prompt=PROMPT, steps=40, seed=1).predicted_original
    stopped = generate_steps(model=tiny_sd, prompt=PROMPT, steps=40, seed=2)
    other = generate_steps(model=tiny_sd, prompt=PROMPT, steps=40, seed=1)
    assert next(stopped).step == 1 and next(other).step == 1
    started = time.perf_counter()
    stopped.close()  # what the app does when the user presses Stop: the worker thread ends after its step
    assert time.perf_counter() - started < 5
    *_, last = other
    np.testing.assert_array_equal(last.predicted_original, solo)


def test_a_run_cancelled_on_the_web_servers_event_loop_is_not_waited_for(
    tiny_sd: str, seconds_to_close_on_an_event_loop: Callable[[Iterator], float]
) -> None:
    """Gradio closes a cancelled run (a client's cancel, a closed page) on its event loop: that must not wait for
    the pipeline's current step, or every other user's requests and updates wait too."""
    solo = generate(model=tiny_sd, prompt=PROMPT, steps=10, seed=1).predicted_original
    cancelled = generate_steps(model=tiny_sd, prompt=PROMPT, steps=500, seed=2)  # far from done when it is cancelled
    assert next(cancelled).step == 1
    assert seconds_to_close_on_an_event_loop(cancelled) < 2  # not the 10 s it waits for
    np.testing.assert_array_equal(  # the torch thread ends the cancelled run and goes on serving the others
        generate(model=tiny_sd, prompt=PROMPT, steps=10, seed=1).predicted_original, solo
    )


def test_x0_estimate_sharpens_towards_the_result(tiny_sd: str) -> None:
    frames = list(generate_steps(model=tiny_sd, prompt=PROMPT, scheduler="DDIM", steps=20, seed=0))
    result = frames[-1].predicted_original.astype(float)
    errors = [np.abs(frame.predicted_original.astype(float) - result).mean() for frame in frames[:-1]]
    assert errors[-1] < errors[0]


def test_the_embedded_vocabulary_is_the_captions_words(tiny_sd: str) -> None:
    tokenizer = load_pipeline(tiny_sd, text_to_image.PIPELINE_CLASSES).tokenizer
    words = {"a", "and", "on", "in", "the", "shape", *COLOURS, *SHAPES, *SIZES, *POSITIONS}
    assert known_words(tokenizer) == words
    assert all(len(tokenizer(word, add_special_tokens=False).input_ids) == 1 for word in words)


def test_prompt_notices(tiny_sd: str) -> None:
    assert prompt_notices(tiny_sd, PROMPT) == []
    assert "empty" in prompt_notices(tiny_sd, "  ")[0]
    (unknown,) = prompt_notices(tiny_sd, "a red zebra")
    assert "zebra" in unknown and "circle" in unknown  # the words it knows are listed
    (too_long,) = prompt_notices(tiny_sd, " ".join(["a red circle"] * 8))
    assert "cut to" in too_long and "16" in too_long


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"steps": 0}, "Steps must be between 1 and"),
        ({"guidance_scale": 0.5}, "Guidance scale must be between 1"),
        ({"batch_size": 9}, "Batch size must be between 1 and 8"),
        ({"seed": -1}, "Seed must be between 0 and"),
        ({"scheduler": "Magic"}, "Unknown scheduler 'Magic'; choose one of"),
    ],
)
def test_bad_settings_name_the_allowed_values(tiny_sd: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(model=tiny_sd, prompt=PROMPT, **settings)


def test_a_model_of_another_kind_is_refused(tiny_ddpm: str) -> None:
    with pytest.raises(ValueError, match="not in this app's catalogue"):
        generate(model=tiny_ddpm, prompt=PROMPT)


def test_big_vaes_preview_through_a_linear_map_when_taesd_is_not_here(tiny_sd: str, monkeypatch) -> None:
    from pipelines.engine import streaming

    monkeypatch.setattr(streaming, "FULL_DECODE_PARAMETERS", 0)  # treat the tiny VAE as Stable Diffusion's
    monkeypatch.setattr(streaming, "PREVIEW_TAESD", "not-on-this-machine/taesd")
    frames = list(generate_steps(model=tiny_sd, prompt=PROMPT, steps=3, batch_size=2))
    assert frames[0].predicted_original.shape == (2, 4, 4, 3)  # latent resolution: no decoder ran
    assert frames[-1].predicted_original.shape == (2, 16, 16, 3)  # the result is the pipeline's own decode
