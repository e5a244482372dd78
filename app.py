"""Diffusion Playground: watch a diffusion model turn noise into a picture, step by step.

    python app.py        # serves http://localhost:7860

UI only: the layout, then the event wiring. Sampling lives in `pipelines/`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import gradio as gr
import numpy as np

from pipelines.frames import Frame, Throttle, image_grid
from pipelines.loading import SCHEDULERS
from pipelines.unconditional import (
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    MAX_BATCH_SIZE,
    MAX_SEED,
    generate_steps,
)

UNCONDITIONAL_MODELS = [
    ("shapes-ddpm: embedded, 32×32 shapes, trained by this project", DEFAULT_MODEL),
    ("google/ddpm-cifar10-32: hub, 32×32 CIFAR-10", "google/ddpm-cifar10-32"),
    ("google/ddpm-cat-256: hub, 256×256 cats (slow on a CPU)", "google/ddpm-cat-256"),
]
stop_requests: set[str | None] = set()  # sessions whose user pressed Stop; their run ends after its current step
FRAMES_KEPT_SECONDS = 1800  # a session's replay frames are dropped after 30 minutes without use
RESULT_SIZE = 256  # small results are enlarged (nearest neighbour) to about this many pixels, so a download is visible
# Small images are enlarged by the browser: keep their pixels sharp instead of blurring them.
CSS = ".pixelated img { image-rendering: pixelated; object-fit: contain; }"

EXPLANATION = """
**Forward process:** to train the model, Gaussian noise is added to real images step by step until only noise is left.
**Reverse process:** generation runs that backwards. It starts from pure noise and at every step the model removes a
little of it; the left image is the current noisy sample **x_t**. The right image is **x̂₀**, the model's guess at
that step of the clean image it is heading for: blurry at first, sharp as t approaches 0.
"""


def whole_number(value: float | None, name: str) -> int:
    if value is None or not np.isfinite(value) or float(value) != int(value):
        raise gr.Error(f"{name} must be a whole number; got {value}.")
    return int(value)


def frame_views(frame: Frame) -> tuple[np.ndarray, np.ndarray, str]:
    """The x_t grid, the x̂0 grid and a status line for one frame."""
    status = f"Step {frame.step} / {frame.total_steps} · t = {frame.timestep} · {frame.elapsed:.2f} s"
    return image_grid(frame.noisy_sample), image_grid(frame.predicted_original), status


def request_stop(request: gr.Request) -> None:
    stop_requests.add(request.session_hash)


def run_unconditional(
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Stream the reverse process: x_t, x̂0, result, status, seed, replay slider, frames kept for replay."""
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = random.randint(0, MAX_SEED - MAX_BATCH_SIZE) if random_seed else whole_number(seed, "Seed")
    session = request.session_hash if request else None
    stop_requests.discard(session)  # a Stop pressed before this run is not meant for it
    frames: list[Frame] = []
    throttle = Throttle()
    try:
        for frame in generate_steps(model=model, scheduler=scheduler, steps=steps, seed=seed, batch_size=batch_size):
            frames.append(frame)
            if frame.is_last:  # sent below with the result
                break
            if session in stop_requests:  # checked between steps: the run ends cleanly and keeps its frames
                status = f"Stopped after step {frame.step} of {frame.total_steps}. The replay slider shows those steps."
                gr.Warning(status)
                noisy, estimate, _ = frame_views(frame)
                yield noisy, estimate, gr.skip(), status, seed, replay_slider(frames), frames
                return
            if throttle.ready(frame):
                noisy, estimate, status = frame_views(frame)
                yield noisy, estimate, gr.skip(), status, seed, gr.skip(), frames
    except ValueError as error:  # settings or model the pipeline refused: tell the user why
        raise gr.Error(str(error)) from error
    except Exception as error:  # anything else (out of memory, a broken model): say what, keep serving
        raise gr.Error(f"Generation failed: {type(error).__name__}: {error}") from error
    finally:
        stop_requests.discard(session)
    seeds = f"seed {seed}" if batch_size == 1 else f"seeds {seed}–{seed + batch_size - 1}"
    calls = f" ({frame.total_steps} model calls)" if frame.total_steps != steps else ""
    status = f"Done: {batch_size} image(s) in {frame.elapsed:.2f} s, {steps} steps of {scheduler}{calls}, {seeds}."
    scale = max(1, RESULT_SIZE // frame.predicted_original.shape[1])
    result = image_grid(frame.predicted_original, scale=scale)
    noisy, estimate, _ = frame_views(frame)
    yield noisy, estimate, result, status, seed, replay_slider(frames), frames


def replay_slider(frames: list[Frame]) -> gr.Slider:
    return gr.Slider(minimum=1, maximum=len(frames), value=len(frames), visible=True)


def replay_step(step: float, frames: list[Frame]) -> tuple:
    if not frames:
        raise gr.Error("Generate first: the replay shows the steps of the last run.")
    return frame_views(frames[min(max(int(step), 1), len(frames)) - 1])


with gr.Blocks(title="Diffusion Playground") as demo:
    gr.Markdown("# Diffusion Playground\nWatch diffusion models generate images, one denoising step at a time.")
    with gr.Tab("Unconditional", id="unconditional"):
        gr.Markdown(EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown(UNCONDITIONAL_MODELS, value=DEFAULT_MODEL, label="Model", allow_custom_value=True)
                scheduler = gr.Dropdown(list(SCHEDULERS), value=DEFAULT_SCHEDULER, label="Scheduler")
                steps = gr.Slider(1, 1000, value=DEFAULT_STEPS, step=1, label="Steps")
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED)
                    random_seed = gr.Checkbox(False, label="Random seed")
                batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=4, step=1, label="Batch size")
                with gr.Row():
                    generate_button = gr.Button("Generate", variant="primary")
                    stop_button = gr.Button("Stop", variant="stop")
            with gr.Column(scale=2):
                with gr.Row():
                    noisy = gr.Image(label="x_t: noisy sample", format="png", height=256, elem_classes="pixelated")
                    estimate = gr.Image(
                        label="x̂₀: predicted clean image", format="png", height=256, elem_classes="pixelated"
                    )
                status = gr.Markdown(
                    "Press **Generate** to start from pure noise.", label="Status", elem_id="unconditional-status"
                )
                replay = gr.Slider(0, 1, value=1, step=1, label="Replay: step", visible=False)
                result = gr.Image(label="Result", format="png", height=320, elem_classes="pixelated")
        # Every step's frame, for the replay slider (previews of at most 128 px: ~50 MB for 1000 steps of 8 32-px
        # images, ~800 MB for 1000 steps of 8 256-px ones); dropped 30 minutes after the last run.
        frames = gr.State([], time_to_live=FRAMES_KEPT_SECONDS)

    generate_button.click(
        run_unconditional,
        inputs=[model, scheduler, steps, seed, random_seed, batch_size],
        outputs=[noisy, estimate, result, status, seed, replay, frames],
        api_name="unconditional",
        show_progress="minimal",
    )
    stop_button.click(request_stop, queue=False, api_visibility="private")
    replay.input(replay_step, inputs=[replay, frames], outputs=[noisy, estimate, status], api_visibility="private")


def launch(**options) -> None:
    """Serve the app; options go to `demo.launch` (tests pass a port and `prevent_thread_lock`)."""
    demo.launch(css=CSS, **options)


if __name__ == "__main__":
    launch()
