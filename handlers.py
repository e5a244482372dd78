"""The app's event handlers: what a tab's inputs become (a call of its task's generator), and what each
frame becomes on screen (x_t and x̂0 grids, the result, a status line, the replay slider).

The layout that calls them is `app.py`; the sampling they stream is `pipelines/`. Every handler is a
generator that Gradio streams as is: `stream_frames` throttles the frames (`pipelines.frames.Throttle`),
ends a run when its user presses Stop or it reaches the time limit, and turns bad settings into a
message for the user. `tab_handler` makes each tab's run a run of its own (session, tab) (`runs.py`)
and runs it under `spaces.GPU` where that exists (`gpu.py`).
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext

import gradio as gr
import numpy as np
from PIL import Image

import gpu
import keep
import runs
from pipelines import (
    catalogue,
    classifier_guidance,
    inpainting,
    limits,
    loading,
    super_resolution,
    text_to_image,
    unconditional,
)
from pipelines.frames import Frame, LatentFrame, Throttle, image_grid

MAX_BATCH_SIZE = 8  # every tab's batch limit
MAX_SEED = 2**32 - 1
RESULT_SIZE = 256  # small results are enlarged (nearest neighbour) to about this many pixels, so a download is visible


def whole_number(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value != int(value):
        raise gr.Error(f"{name} must be a whole number; got {str(value)[:40]}.")
    return int(value)


def frame_views(frame: Frame, throttle: Throttle | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The x_t grid, the x̂0 grid and a status line for one frame; x̂0 is skipped when `throttle` cannot afford it."""
    status = f"Step {frame.step} / {frame.total_steps} · t = {frame.timestep} · {frame.elapsed:.2f} s"
    if isinstance(frame, classifier_guidance.GuidedFrame):  # what the guiding classifier believes at this step
        status += f" · {frame.probability_text()}"
    if throttle is not None and not throttle.affordable():
        return image_grid(frame.noisy_sample), gr.skip(), status
    with throttle.timed() if throttle else nullcontext():  # decoding a latent x̂0 is the costly part
        estimate = image_grid(frame.predicted_original)
    return image_grid(frame.noisy_sample), estimate, status


def session(request: gr.Request | None) -> str | None:
    return request.session_hash if request else None


def stopper(task: str) -> Callable[[gr.Request], None]:
    """The Stop button of tab `task`: ends this session's run of that tab only."""

    def request_stop(request: gr.Request) -> None:
        runs.stop(session(request), task)

    return request_stop


def tab_handler(task: str, **fixed: object) -> Callable[[Callable], Callable]:
    """Make `run(slot, *inputs)` the handler of tab `task`, `handler(*inputs, request)`: the run of this
    session's tab (`runs.controlled`: Stop ends it, Generate again replaces it), under `spaces.GPU` where
    there is one, asking for the seconds its model, steps and batch size take (`gpu.seconds`). The handler
    keeps `run`'s parameter names (the API's) without `slot`. `fixed`: the model and steps of a tab that
    has no input for them, for its GPU seconds."""

    def decorate(run: Callable[..., Iterator[tuple]]) -> Callable[..., Iterator[tuple]]:
        names = list(inspect.signature(run).parameters)[1:]

        def gpu_seconds(slot: int, *inputs: object) -> int:
            named = {**fixed, **dict(zip(names, inputs))}
            return gpu.seconds(named["model"], named["steps"], named.get("batch_size", 1))

        on_gpu = gpu.on_gpu(gpu_seconds)(run)

        @functools.wraps(run)
        def handler(*inputs: object, request: gr.Request | None = None) -> Iterator[tuple]:
            if len(inputs) == len(names) + 1:  # Gradio passes the request after the inputs, by position
                *inputs, request = inputs
            yield from runs.controlled(session(request), task, on_gpu, *inputs)

        parameters = list(inspect.signature(run).parameters.values())[1:]
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        handler.__signature__ = inspect.Signature(parameters + [request])
        handler.__annotations__ = {**run.__annotations__, "request": "gr.Request | None"}
        handler.__annotations__.pop("slot", None)
        del handler.__wrapped__  # Gradio reads the signature above, not run's
        handler.task = task  # what its Stop button names (`stopper`)
        handler.run, handler.gpu_seconds = run, gpu_seconds  # for tests of the run under a stand-in of spaces.GPU
        return handler

    return decorate


def result_grid(frame: Frame | LatentFrame) -> np.ndarray:
    """The images of the last frame as one grid, small ones enlarged so that they are visible."""
    return enlarged_grid(frame.predicted_original)


def enlarged_grid(images: np.ndarray) -> np.ndarray:
    return image_grid(images, scale=max(1, RESULT_SIZE // images.shape[1]))


def loading_notice(model: object, pipeline_classes: tuple[str, ...]) -> str | None:
    """What to show while a hub model is fetched and loaded on its first use (minutes, for a big one)."""
    try:
        entry = catalogue.entry(model, pipeline_classes)
    except ValueError:
        return None  # refused by the run itself, with the message
    if entry.is_local or loading.is_loaded(entry.name):
        return None
    return f"Loading {entry.name}: downloaded on its first use, this can take a few minutes…"


def stream_frames(
    task: str,
    start: Callable[[], Iterator[Frame | LatentFrame]],
    seed: int,
    done: Callable,
    slot: int,
    *,
    settings: dict,
    result: Callable[[Frame | LatentFrame], object] = result_grid,
    announce: str | None = None,
) -> Iterator[tuple]:
    """Stream any task's frames to its tab: x_t, x̂0, result, status, seed, replay slider, the run's trajectory
    animation and contact sheet (`keep.kept`, in an update of their own after the result's), frames kept for replay.

    `start()` begins the run (it may raise ValueError for bad settings); `done(last_frame)` is the final
    status line and `result(last_frame)` the result shown; `announce`, a status shown before it starts.
    Throttled to ~10 updates a second, fewer when a frame is costly to show or many runs stream at once
    (`limits.STREAMED_UPDATES_PER_SECOND` for all of them), always the last. Stop (the
    run's `slot` in `runs`) and the time limit end the run between steps, keeping its frames for replay.
    `task` names the tab, whose last run tells how much drawing x̂0 costs (`Throttle`). The frames kept
    for replay go with the last update only (on ZeroGPU each update is pickled to the server). The result
    goes as a PNG file carrying `settings` (the run's handler parameters, as used).
    """
    if announce:
        yield gr.skip(), gr.skip(), gr.skip(), announce, seed, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    frames: list[Frame | LatentFrame] = []
    throttle = Throttle(task, least_interval=lambda: runs.going() / limits.STREAMED_UPDATES_PER_SECOND)
    try:
        with closing(start()) as run:  # closing the run (Stop, or the user went away) ends its sampling loop
            for frame in run:
                frames.append(frame)
                if frame.is_last:  # sent below with the result
                    break
                stopped = runs.stop_requested(slot)
                if stopped or frame.elapsed > limits.RUN_SECONDS:  # checked between steps: ends cleanly
                    reason = "Stopped" if stopped else f"Stopped at the time limit of {limits.RUN_SECONDS:g} s"
                    status = f"{reason} after step {frame.step} of {frame.total_steps}. The replay slider shows those."
                    gr.Warning(status)
                    noisy, estimate, _ = frame_views(frame)
                    _, animation, sheet = keep.kept(task, settings, frames, None)
                    yield noisy, estimate, gr.skip(), status, seed, replay_slider(frames), animation, sheet, frames
                    return
                if throttle.ready(frame):
                    noisy, estimate, status = frame_views(frame, throttle)
                    yield noisy, estimate, gr.skip(), status, seed, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    except ValueError as error:  # settings, input or model the pipeline refused: tell the user why
        raise gr.Error(str(error)) from error
    except Exception as error:  # anything else (out of memory, a broken model): say what, keep serving
        raise gr.Error(f"Generation failed: {type(error).__name__}: {str(error)[:300]}") from error
    noisy, estimate, _ = frame_views(frame)
    shown, status, replay = result(frame), done(frame), replay_slider(frames)
    yield noisy, estimate, shown, status, seed, replay, gr.skip(), gr.skip(), frames  # the result, at once
    shown, animation, sheet = keep.kept(task, settings, frames, shown)  # then the files (a few tenths of a second)
    yield noisy, estimate, shown, status, seed, replay, animation, sheet, frames


def run_seed(seed: float, random_seed: bool) -> int:
    """The seed of a run: the one given, or a random one (shown to the user, so the run can be made again)."""
    return random.randint(0, MAX_SEED - MAX_BATCH_SIZE) if random_seed else whole_number(seed, "Seed")


def seeds_text(seed: int, batch_size: int) -> str:
    return f"seed {seed}" if batch_size == 1 else f"seeds {seed}–{seed + batch_size - 1}"


def steps_text(frame: Frame | LatentFrame, steps: int, scheduler: str) -> str:
    calls = f" ({frame.total_steps} model calls)" if frame.total_steps != steps else ""
    return f"{steps} steps of {scheduler}{calls}"


@tab_handler("unconditional")
def run_unconditional(
    slot: int,
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
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
        slot,
        announce=loading_notice(model, unconditional.PIPELINE_CLASSES),
        settings=settings,
    )


@tab_handler(
    "classifier_guidance", model=classifier_guidance.DEFAULT_MODEL, steps=2 * classifier_guidance.DEFAULT_STEPS
)  # guided and unguided images in one batch: twice the work of an unconditional run
def run_classifier_guidance(
    slot: int,
    target: str,
    guidance_scale: float,
    seed: float,
    batch_size: float,
) -> Iterator[tuple]:
    seed, batch_size = whole_number(seed, "Seed"), whole_number(batch_size, "Batch size")
    settings = {"target": target, "guidance_scale": guidance_scale, "seed": seed, "batch_size": batch_size}
    steps, scheduler = classifier_guidance.DEFAULT_STEPS, classifier_guidance.DEFAULT_SCHEDULER
    yield from stream_frames(
        "classifier_guidance",
        lambda: classifier_guidance.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) guided towards “{target}” at strength {guidance_scale:g} in "
            f"{frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}; at the "
            f"last step {frame.probability_text()}. Result: top row guided, bottom row the same seeds without."
        ),
        slot,
        settings=settings,
        result=lambda frame: classifier_guidance.comparison(
            frame, scale=max(1, RESULT_SIZE // frame.predicted_original.shape[1])
        ),
    )


def tell(notices: list[str], toast: Callable[[str], None] = gr.Warning) -> None:
    for notice in notices:
        toast(notice)


def prompts(prompt: object, negative_prompt: object) -> tuple[str, str]:
    """Both prompts as text of a bounded length, the user told of any cut."""
    prompt, notices = limits.cut_prompt(prompt)
    negative_prompt, negative_notices = limits.cut_prompt(negative_prompt, "negative prompt")
    tell(notices + negative_notices)
    return prompt, negative_prompt


@tab_handler("text_to_image")
def run_text_to_image(
    slot: int,
    model: str,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)

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
            f"Done: {batch_size} image(s) of “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, text_to_image.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
        },
    )


@tab_handler("inpainting")
def run_inpainting(
    slot: int,
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
    soft_mask: bool = False,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)
    if not isinstance(soft_mask, bool):
        raise gr.Error(f"Soft mask takes true or false; got {str(soft_mask)[:40]!r}.")

    def start() -> Iterator[LatentFrame]:
        size, multiple = inpainting.model_size(model)
        editor_value = editor if isinstance(editor, dict) else {}
        image, mask, notices = inpainting.prepare(
            editor_value.get("background"), editor_value.get("layers") or [], size, multiple, soft=soft_mask
        )
        tell(notices, gr.Info)  # conversions done to the upload
        tell(text_to_image.prompt_notices(model, prompt, inpainting.PIPELINE_CLASSES))
        settings = (model, image, mask, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed)
        return inpainting.generate_steps(*settings, zoom=zoom, soft=soft_mask)

    yield from stream_frames(
        "inpainting",
        start,
        seed,
        lambda frame: (
            f"Done: repainted with “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, strength {strength:g}"
            f"{', zoomed into the mask' if zoom else ''}{', soft mask' if soft_mask else ''}, "
            f"guidance {guidance_scale:g}, "
            f"{steps_text(frame, steps, scheduler)}, {seeds_text(seed, 1)}."
        ),
        slot,
        announce=loading_notice(model, inpainting.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "strength": strength,
            "zoom": zoom,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "soft_mask": soft_mask,
        },
    )


def change_map_view(frames: list) -> np.ndarray | None:
    """The last inpainting run's change maps, |result - original| (black: unchanged), enlarged like the result."""
    last = frames[-1] if frames else None
    return enlarged_grid(last.change_maps) if isinstance(last, inpainting.InpaintedFrame) else None


BINARY_BRUSH_OPACITY = 0.7  # white strokes that still show the image; any stroke at least half opaque is masked


def mask_brush(soft_mask: bool = False, brush_strength: float = 1.0) -> gr.Brush:
    """The inpainting editor's brush: white, as opaque as the brush strength with a soft mask (the grey level it
    paints), else see-through."""
    opacity = min(max(float(brush_strength), 0.0), 1.0) if soft_mask else BINARY_BRUSH_OPACITY
    return gr.Brush(colors=[("#ffffff", opacity)], color_mode="fixed")


def soft_mask_brush(soft_mask: bool, brush_strength: float) -> tuple[gr.ImageEditor, gr.Slider]:
    """The editor's brush for this mode, and the brush strength slider shown only with a soft mask."""
    return gr.ImageEditor(brush=mask_brush(soft_mask, brush_strength)), gr.Slider(visible=soft_mask)


@tab_handler("super_resolution")
def run_super_resolution(
    slot: int,
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
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    noise_level = whole_number(noise_level, "Noise level")
    prompt, _ = prompts(prompt, "")
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
        slot,
        result=lambda frame: (super_resolution.bicubic(prepared[0]), frame.predicted_original[0]),
        announce=loading_notice(model, super_resolution.PIPELINE_CLASSES),
        settings={
            "model": model,
            "scheduler": scheduler,
            "steps": steps,
            "eta": eta,
            "seed": seed,
            "prompt": prompt,
            "guidance_scale": guidance_scale,
            "noise_level": noise_level,
            "consistent": consistent,
        },
    )


def model_defaults(settings: tuple[str, ...]) -> Callable[[str], tuple]:
    """What picking a model does to a tab's `settings` ("scheduler", "steps", "guidance_scale"): each takes the
    value the catalogue gives for that model (sd-turbo: 2 steps, no guidance), or stays as it is."""

    def defaults(model: str) -> tuple:
        entry = next((item for item in catalogue.entries() if item.name == model), None)
        values = entry.defaults if entry else {}
        return tuple(values.get(name, gr.skip()) for name in settings)

    return defaults


def replay_slider(frames: list) -> dict:
    # a one-step run has nothing to replay (and a slider from 1 to 1 is refused by Gradio)
    return gr.update(minimum=1, maximum=max(2, len(frames)), value=len(frames), visible=len(frames) > 1)


def replay_step(step: float, frames: list) -> tuple:
    if not frames:
        raise gr.Error("Generate first: the replay shows the steps of the last run.")
    return frame_views(frames[min(max(int(step), 1), len(frames)) - 1])


PLAYED_STEPS = 60  # Play shows at most this many of a run's steps, one a tick (~6 s at 10 ticks a second)


def play(frames: list) -> tuple:
    """Play: the replay from its first step, the timer started (`play_step` at each tick)."""
    if not frames:
        raise gr.Error("Generate first: Play shows the steps of the last run.")
    return gr.Timer(active=True), 1


def play_step(step: float, frames: list) -> tuple:
    """One tick of Play: the replay a stride further (the last step always shown), the timer stopped at the end."""
    if not frames:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
    stride = max(1, -(-len(frames) // PLAYED_STEPS))
    step = min(len(frames), int(step) + stride)
    return step, *replay_step(step, frames), gr.Timer(active=step < len(frames))
