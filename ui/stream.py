"""What every tab's run streams, and the machinery around it: one `stream_frames` turns any task's
frames into a tab's updates (x_t and x̂0 grids, the result, a status line, the replay slider, the run's
files), throttled, ended by Stop or the time limit, bad settings turned into a message for the user;
`tab_handler` makes a tab's run a run of its own (session, tab) (`ui/runs.py`) under `spaces.GPU` where
that exists (`ui/gpu.py`); the replay slider, Play and the model defaults. `handlers.py` holds each tab's
handler, built on these.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext

import gradio as gr
import numpy as np

from pipelines.defaults.unconditional import MAX_BATCH_SIZE, MAX_SEED  # every tab's: the pipelines check them
from pipelines.engine import catalogue, limits
from pipelines.engine.frames import Frame, LatentFrame, Throttle, image_grid
from pipelines.lazy import lazy
from ui import gpu, keep, replays, runs
from ui.replays import Replay, frames_of

classifier_guidance = lazy("pipelines.classifier_guidance")
loading = lazy("pipelines.engine.loading")

RESULT_SIZE = 256  # small results are enlarged (nearest neighbour) to about this many pixels, so a download is visible


def whole_number(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value != int(value):
        raise gr.Error(f"{name} must be a whole number; got {str(value)[:40]}.")
    return int(value)


@contextmanager
def user_errors() -> Iterator[None]:
    """Input the pipelines refuse (ValueError) becomes a message for the user; the server keeps serving."""
    try:
        yield
    except ValueError as error:
        raise gr.Error(str(error)) from error


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


def tab_handler(
    task: str, pipeline_classes: tuple[str, ...] = (), gpu_work: bool = True, **fixed: object
) -> Callable[[Callable], Callable]:
    """Make `run(slot, *inputs)` the handler of tab `task`, `handler(*inputs, request)`: the run of this
    session's tab (`runs.controlled`: Stop ends it, Generate again replaces it), its settings checked here
    (`gpu.check_settings`), then run through the app's one `spaces.GPU` function where there is one (`gpu.register`),
    asking for the seconds its model, steps and batch size take (`gpu.seconds`), unless `gpu_work` is False (the
    Train tab's class trains together in the server's process). The handler
    keeps `run`'s parameter names (the API's) without `slot`. `fixed`: the model and steps of a tab that
    has no input for them, for its GPU seconds, each a value or a function of the inputs by name (a ValueError it
    raises refuses them); `pipeline_classes`, those of the models it takes."""

    def decorate(run: Callable[..., Iterator[tuple]]) -> Callable[..., Iterator[tuple]]:
        names = list(inspect.signature(run).parameters)[1:]

        def gpu_seconds(slot: int, *inputs: object) -> int:
            named = dict(zip(names, inputs))
            named |= {name: value(named) if callable(value) else value for name, value in fixed.items()}
            # images through the UNet per step: a batch, or the samples averaged into one result
            return gpu.seconds(named["model"], named["steps"], named.get("batch_size", 1) * named.get("samples", 1))

        def check(slot: int, *inputs: object) -> None:  # in the server, before the GPU call
            gpu.check_settings(dict(zip(names, inputs)), pipeline_classes)
            try:
                gpu_seconds(slot, *inputs)
            except ValueError as error:
                raise gr.Error(str(error)) from error

        # every tab through the one `gpu.gpu_run`, but the Train tab's class, which trains in the server's process
        on_gpu = gpu.register(task, run, gpu_seconds, check) if gpu_work else run

        @functools.wraps(run)
        def handler(*inputs: object, request: gr.Request | None = None) -> Iterator[tuple]:
            if len(inputs) == len(names) + 1:  # Gradio passes the request after the inputs, by position
                *inputs, request = inputs
            for update in runs.controlled(session(request), task, on_gpu, *inputs):
                if isinstance(update, tuple) and isinstance(update[-1], list):  # the run's frames: kept here
                    update = (*update[:-1], replays.kept(session(request), task, update[-1]))
                yield update

        parameters = list(inspect.signature(run).parameters.values())[1:]
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        handler.__signature__ = inspect.Signature(parameters + [request])
        handler.__annotations__ = {**run.__annotations__, "request": "gr.Request | None"}
        handler.__annotations__.pop("slot", None)
        del handler.__wrapped__  # Gradio reads the signature above, not run's
        handler.task = task  # what its Stop button names (`stopper`)
        handler.run, handler.gpu_seconds = run, gpu_seconds  # for tests of the run without the GPU entry
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
    # a fresh update: Gradio takes the value out of the one it has sent (so the API's last update had none)
    yield noisy, estimate, shown, status, seed, replay_slider(frames), animation, sheet, frames


def run_seed(seed: float, random_seed: bool) -> int:
    """The seed of a run: the one given, or a random one (shown to the user, so the run can be made again)."""
    return random.randint(0, MAX_SEED - MAX_BATCH_SIZE) if random_seed else whole_number(seed, "Seed")


def seeds_text(seed: int, batch_size: int) -> str:
    return f"seed {seed}" if batch_size == 1 else f"seeds {seed}–{seed + batch_size - 1}"


def steps_text(frame: Frame | LatentFrame, steps: int, scheduler: str) -> str:
    calls = f" ({frame.total_steps} model calls)" if frame.total_steps != steps else ""
    return f"{steps} steps of {scheduler}{calls}"


def tell(notices: list[str], toast: Callable[[str], None] = gr.Warning) -> None:
    for notice in notices:
        toast(notice)


MODEL_SETTINGS = ("scheduler", "steps", "guidance_scale", "samples")  # what the catalogue may set for a model


def model_defaults(settings: tuple[str, ...]) -> Callable[[str], tuple]:
    """What picking a model does to a tab's `settings` (of `MODEL_SETTINGS`): each takes the
    value the catalogue gives for that model (sd-turbo: 2 steps, no guidance), or stays as it is."""

    def defaults(model: str) -> tuple:
        entry = next((item for item in catalogue.entries() if item.name == model), None)
        values = entry.settings() if entry else {}
        return tuple(values.get(name, gr.skip()) for name in settings)

    return defaults


def replay_slider(frames: list) -> dict:
    # a one-step run has nothing to replay (and a slider from 1 to 1 is refused by Gradio)
    return gr.update(minimum=1, maximum=max(2, len(frames)), value=len(frames), visible=len(frames) > 1)


def replay_step(step: float, replay: Replay | None) -> tuple:
    """x_t, x̂0 and the status line of one step of the session's last run (`replays`); a note if its frames went."""
    frames, note = frames_of(replay)
    if not frames and replay is None:
        raise gr.Error(note)
    if not frames:
        return gr.skip(), gr.skip(), note
    return frame_views(frames[min(max(int(step), 1), len(frames)) - 1])


PLAYED_STEPS = 60  # Play shows at most this many of a run's steps, one a tick (~6 s at 10 ticks a second)


def play(replay: Replay | None) -> tuple:
    """Play: the replay from its first step, the timer started (`play_step` at each tick)."""
    if replay is None:
        raise gr.Error("Generate first: Play shows the steps of the last run.")
    return gr.Timer(active=True), 1


def play_step(step: float, replay: Replay | None) -> tuple:
    """One tick of Play: the replay a stride further (the last step always shown), the timer stopped at the end."""
    frames, note = frames_of(replay)
    if not frames:
        return gr.skip(), gr.skip(), gr.skip(), note or gr.skip(), gr.Timer(active=False)
    stride = max(1, -(-len(frames) // PLAYED_STEPS))
    step = min(len(frames), int(step) + stride)
    return step, *frame_views(frames[step - 1]), gr.Timer(active=step < len(frames))


def prompts(prompt: object, negative_prompt: object) -> tuple[str, str]:
    """Both prompts as text of a bounded length, the user told of any cut."""
    prompt, notices = limits.cut_prompt(prompt)
    negative_prompt, negative_notices = limits.cut_prompt(negative_prompt, "negative prompt")
    tell(notices + negative_notices)
    return prompt, negative_prompt


def wire(
    buttons: tuple[gr.Button, gr.Button],
    handler: Callable,
    inputs: list[gr.components.Component],
    seed: gr.Number,
    outputs: list[gr.components.Component],
    api_name: str,
    extra_outputs: tuple[gr.components.Component, ...] = (),
) -> dict[str, dict[str, gr.components.Component]]:
    """Generate streams into the tab's outputs (`components.stream_outputs`); Stop ends this tab's run; the
    slider and Play replay it; picking a model sets the catalogue's settings for it. Returns the tab's inputs
    by handler parameter name, under its task (what PNG info restores). `extra_outputs`: a tab's own outputs (its
    handler yields their values after `stream_frames`' first eight, before the frames kept for replay, kept last).

    A click on Generate while this tab's last run is still finishing (just after Stop) is kept and runs
    next ("always_last"; Gradio's default drops it). Many users' runs go at once (`limits`)."""
    generate, stop = buttons
    noisy, estimate, result, status, replay, frames, animation, sheet, play_button, timer = outputs
    named_inputs = dict(zip(inspect.signature(handler).parameters, inputs))
    generate.click(
        handler,
        inputs=inputs,
        outputs=[noisy, estimate, result, status, seed, replay, animation, sheet, *extra_outputs, frames],
        api_name=api_name,
        show_progress="minimal",
        trigger_mode="always_last",
        concurrency_limit=limits.CONCURRENT_RUNS,
    )
    stop.click(stopper(handler.task), queue=False, api_visibility="private")
    replay.input(replay_step, inputs=[replay, frames], outputs=[noisy, estimate, status], api_visibility="private")
    play_button.click(play, inputs=frames, outputs=[timer, replay], api_visibility="private")
    timer.tick(play_step, [replay, frames], [replay, noisy, estimate, status, timer], api_visibility="private")
    if "model" in named_inputs:  # classifier guidance has one model and no dropdown
        settings = tuple(name for name in MODEL_SETTINGS if name in named_inputs)
        # on the user's pick only (`input`): restoring a PNG's settings sets the model and its steps at once
        named_inputs["model"].input(
            model_defaults(settings),
            inputs=named_inputs["model"],
            outputs=[named_inputs[name] for name in settings],
            queue=False,
            api_visibility="private",
        )
    return {handler.task: named_inputs}
