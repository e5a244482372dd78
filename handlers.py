"""The app's event handlers: what a tab's inputs become (a call of its task's generator), and what each
frame becomes on screen (x_t and x̂0 grids, the result, a status line, the replay slider).

The layout that calls them is `app.py`; the sampling they stream is `pipelines/`. Every handler is a
generator that Gradio streams as is: `stream_frames` throttles the frames (`pipelines.frames.Throttle`),
ends a run when its user presses Stop, and turns bad settings into a message for the user.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext

import gradio as gr
import numpy as np
from PIL import Image

from pipelines import inpainting, super_resolution, text_to_image, unconditional
from pipelines.frames import Frame, LatentFrame, Throttle, image_grid

MAX_BATCH_SIZE = 8  # every tab's batch limit
MAX_SEED = 2**32 - 1
RESULT_SIZE = 256  # small results are enlarged (nearest neighbour) to about this many pixels, so a download is visible
stop_requests: set[str | None] = set()  # sessions whose user pressed Stop; their run ends after its current step


def whole_number(value: float | None, name: str) -> int:
    if value is None or not np.isfinite(value) or float(value) != int(value):
        raise gr.Error(f"{name} must be a whole number; got {value}.")
    return int(value)


def frame_views(frame: Frame, throttle: Throttle | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The x_t grid, the x̂0 grid and a status line for one frame; x̂0 is skipped when `throttle` cannot afford it."""
    status = f"Step {frame.step} / {frame.total_steps} · t = {frame.timestep} · {frame.elapsed:.2f} s"
    if throttle is not None and not throttle.affordable():
        return image_grid(frame.noisy_sample), gr.skip(), status
    with throttle.timed() if throttle else nullcontext():  # decoding a latent x̂0 is the costly part
        estimate = image_grid(frame.predicted_original)
    return image_grid(frame.noisy_sample), estimate, status


def request_stop(request: gr.Request) -> None:
    stop_requests.add(request.session_hash)


def result_grid(frame: Frame | LatentFrame) -> np.ndarray:
    """The images of the last frame as one grid, small ones enlarged so that they are visible."""
    return image_grid(frame.predicted_original, scale=max(1, RESULT_SIZE // frame.predicted_original.shape[1]))


def stream_frames(
    task: str,
    start: Callable[[], Iterator[Frame | LatentFrame]],
    seed: int,
    done: Callable,
    request: gr.Request | None,
    result: Callable[[Frame | LatentFrame], object] = result_grid,
) -> Iterator[tuple]:
    """Stream any task's frames to its tab: x_t, x̂0, result, status, seed, replay slider, frames kept for replay.

    `start()` begins the run (it may raise ValueError for bad settings); `done(last_frame)` is the final
    status line and `result(last_frame)` the result shown. Throttled to ~10 updates a second (fewer when a
    frame is costly to show), always the last; Stop ends the run between steps. `task` names the tab, whose
    last run tells how much drawing x̂0 costs (`Throttle`).
    """
    session = request.session_hash if request else None
    stop_requests.discard(session)  # a Stop pressed before this run is not meant for it
    frames: list[Frame | LatentFrame] = []
    throttle = Throttle(task)
    try:
        with closing(start()) as run:  # closing the run (Stop, or the user went away) ends its sampling loop
            for frame in run:
                frames.append(frame)
                if frame.is_last:  # sent below with the result
                    break
                if session in stop_requests:  # checked between steps: the run ends cleanly and keeps its frames
                    status = f"Stopped after step {frame.step} of {frame.total_steps}. The replay slider shows those."
                    gr.Warning(status)
                    noisy, estimate, _ = frame_views(frame)
                    yield noisy, estimate, gr.skip(), status, seed, replay_slider(frames), frames
                    return
                if throttle.ready(frame):
                    noisy, estimate, status = frame_views(frame, throttle)
                    yield noisy, estimate, gr.skip(), status, seed, gr.skip(), frames
    except ValueError as error:  # settings, input or model the pipeline refused: tell the user why
        raise gr.Error(str(error)) from error
    except Exception as error:  # anything else (out of memory, a broken model): say what, keep serving
        raise gr.Error(f"Generation failed: {type(error).__name__}: {error}") from error
    finally:
        stop_requests.discard(session)
    noisy, estimate, _ = frame_views(frame)
    yield noisy, estimate, result(frame), done(frame), seed, replay_slider(frames), frames


def run_seed(seed: float, random_seed: bool) -> int:
    """The seed of a run: the one given, or a random one (shown to the user, so the run can be made again)."""
    return random.randint(0, MAX_SEED - MAX_BATCH_SIZE) if random_seed else whole_number(seed, "Seed")


def seeds_text(seed: int, batch_size: int) -> str:
    return f"seed {seed}" if batch_size == 1 else f"seeds {seed}–{seed + batch_size - 1}"


def steps_text(frame: Frame | LatentFrame, steps: int, scheduler: str) -> str:
    calls = f" ({frame.total_steps} model calls)" if frame.total_steps != steps else ""
    return f"{steps} steps of {scheduler}{calls}"


def run_unconditional(
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    settings = {"model": model, "scheduler": scheduler, "steps": steps, "seed": seed, "batch_size": batch_size}
    yield from stream_frames(
        "unconditional",
        lambda: unconditional.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, "
            f"{seeds_text(seed, batch_size)}."
        ),
        request,
    )


def tell(notices: list[str], toast: Callable[[str], None] = gr.Warning) -> None:
    for notice in notices:
        toast(notice)


def run_text_to_image(
    model: str,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)

    def start() -> Iterator[LatentFrame]:
        tell(text_to_image.prompt_notices(model, prompt))
        return text_to_image.generate_steps(
            model, prompt, negative_prompt, guidance_scale, scheduler, steps, seed, batch_size
        )

    yield from stream_frames(
        "text_to_image",
        start,
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) of “{prompt}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        request,
    )


def run_inpainting(
    model: str,
    editor: dict | None,
    prompt: str,
    negative_prompt: str,
    strength: float,
    zoom: bool,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)

    def start() -> Iterator[LatentFrame]:
        size, multiple = inpainting.model_size(model)
        editor_value = editor or {}
        image, mask, notices = inpainting.prepare(
            editor_value.get("background"), editor_value.get("layers") or [], size, multiple
        )
        tell(notices, gr.Info)  # conversions done to the upload
        tell(text_to_image.prompt_notices(model, prompt, inpainting.PIPELINE_CLASSES))
        return inpainting.generate_steps(
            model, image, mask, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed, zoom=zoom
        )

    yield from stream_frames(
        "inpainting",
        start,
        seed,
        lambda frame: (
            f"Done: repainted with “{prompt}” in {frame.elapsed:.2f} s, strength {strength:g}"
            f"{', zoomed into the mask' if zoom else ''}, guidance {guidance_scale:g}, "
            f"{steps_text(frame, steps, scheduler)}, {seeds_text(seed, 1)}."
        ),
        request,
    )


def run_super_resolution(
    model: str,
    photo: Image.Image | None,
    scheduler: str,
    steps: float,
    eta: float,
    seed: float,
    random_seed: bool,
    prompt: str,
    guidance_scale: float,
    noise_level: float,
    consistent: bool = True,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    noise_level = whole_number(noise_level, "Noise level")
    prepared: list[Image.Image] = []  # the input as upscaled, for the bicubic comparison

    def start() -> Iterator[LatentFrame]:
        image, notices = super_resolution.prepare(photo)
        tell(notices, gr.Info)  # conversions done to the upload
        prepared.append(image)
        return super_resolution.generate_steps(
            model, image, scheduler, steps, seed, eta, prompt, guidance_scale, noise_level, consistent
        )

    def done(frame: LatentFrame) -> str:
        width, height = prepared[0].size
        return (
            f"Done: {width}×{height} upscaled to {width * super_resolution.SCALE}×{height * super_resolution.SCALE} "
            f"in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, eta {eta:g}, {seeds_text(seed, 1)}, "
            f"{'back-projected onto the photo' if consistent else 'raw model output'}. "
            "Drag the slider over the result: bicubic interpolation on the left, diffusion on the right."
        )

    yield from stream_frames(
        "super_resolution",
        start,
        seed,
        done,
        request,
        result=lambda frame: (super_resolution.bicubic(prepared[0]), frame.predicted_original[0]),
    )


def replay_slider(frames: list) -> gr.Slider:
    # a one-step run has nothing to replay (and a slider from 1 to 1 is refused by Gradio)
    return gr.Slider(minimum=1, maximum=max(2, len(frames)), value=len(frames), visible=len(frames) > 1)


def replay_step(step: float, frames: list) -> tuple:
    if not frames:
        raise gr.Error("Generate first: the replay shows the steps of the last run.")
    return frame_views(frames[min(max(int(step), 1), len(frames)) - 1])
