"""Generation on a GPU: every tab's GPU work goes through ONE `spaces.GPU` generator, `gpu_run`.

On a ZeroGPU Space, `spaces.GPU` runs each call of the decorated generator in a worker process
forked from the server, with a GPU attached for `duration` seconds, and pickles every value it
yields back to the server: frames stream as on a CPU. `spaces` keeps one pool of workers per
decorated function, so this module decorates exactly one, `gpu_run(task, *arguments)`, which looks
the task's run up by name (`register`): one worker serves every tab and holds one copy of each
model, and a repeated call of any tab reuses it (docs/design.md, "How a call runs on ZeroGPU").
Elsewhere (a CPU, a GPU Space, a laptop) `spaces.GPU` returns the function unchanged, and so does
this module where `spaces` is not installed. What the fork means for this app is handled where it
matters: the torch thread restarts in the child (`pipelines/engine/torch_thread.py`), Stop's flags
live in shared memory (`ui/runs.py`), a latent frame carries its decoded images when pickled
(`pipelines/engine/frames.py`), and the device is chosen per process (`loading.device`).

A run refused in the worker ends it: `spaces` does not reuse a worker after an exception, so the
next call forks a new one and reloads every model. `register`'s `check` therefore refuses bad
input in the server, before `spaces` asks for a GPU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import gradio as gr
import numpy as np

from pipelines.defaults.super_resolution import MAX_SAMPLES  # the pipelines' own limits, checked before the GPU call
from pipelines.defaults.unconditional import MAX_BATCH_SIZE, MAX_SEED
from pipelines.engine import catalogue
from pipelines.lazy import import_all, lazy

loading = lazy("pipelines.engine.loading")

# What a call asks ZeroGPU for: BASE_SECONDS, plus steps × images × the model class's seconds per step.
# The per-step figures are for one image on ZeroGPU's GPU (an H200, half precision where the catalogue allows),
# guidance's second UNet pass included; they are upper estimates from public figures, not measured here
# (no GPU on the machines this was written on): docs/serving.md, "What a call asks for".
BASE_SECONDS = 5  # a new worker: CUDA initialised, the packed weights moved to the GPU; the first decode
STEP_SECONDS = {
    "small": 0.01,  # the catalogue's "cpu" models: the embedded 32-pixel ones, CIFAR-10's
    "DDPMPipeline": 0.05,  # a 256×256 pixel UNet (google/ddpm-cat-256)
    "StableDiffusionPipeline": 0.05,  # a 64×64×4 latent, guided: two UNet passes
    "StableDiffusionInpaintPipeline": 0.05,
    "StableDiffusionUpscalePipeline": 0.3,  # a 128×128×4 latent and a large VAE decode
}
OTHER_STEP_SECONDS = 0.1  # an operator's "gpu" model of another class
MAX_SECONDS = 120  # a visitor's daily quota without a Hugging Face account: a run asking for more is refused

# Loaded at start-up on ZeroGPU (`preload`): every tab's embedded default, and the hub models README's
# `preload_from_hub` downloads when the Space is built (tests/test_zerogpu.py checks that the two agree).
PRELOADED_EMBEDDED = ("shapes-ddpm", "shapes-sd", "photo-sr-4x")
PRELOADED_HUB = ("google/ddpm-cifar10-32", "stabilityai/sd-turbo")
WARMED_UP = ("shapes-ddpm", "shapes-sd")  # off ZeroGPU: the first two tabs' defaults, loaded once the page is served
# after the server is up: its first page is not served while torch's import holds the GIL
WARM_UP_DELAY_SECONDS = 1.0

_runs: dict[str, tuple[Callable[..., Iterator], Callable[..., float]]] = {}  # task -> (run, its GPU seconds)


def step_seconds(model: object) -> float:
    """Seconds of one step of one image of catalogue model `model` on ZeroGPU's GPU (`STEP_SECONDS`)."""
    # every entry, offered here or not: the server's table is the same with or without a GPU
    entry = next((item for item in catalogue.HUB + catalogue.operator_entries() if item.name == model), None)
    if entry is None or entry.hardware == "cpu":  # the embedded models, and any the catalogue does not list
        return STEP_SECONDS["small"]
    return STEP_SECONDS.get(entry.pipeline_class, OTHER_STEP_SECONDS)


def seconds(model: object, steps: object, images: object = 1) -> int:
    """The GPU seconds a run asks ZeroGPU for: the base, plus steps × images at the model's speed, capped."""
    try:
        work = float(steps) * float(images) * step_seconds(model)
    except (TypeError, ValueError):  # a bad value is refused before the GPU call (`check`), with a message
        work = 0.0
    return int(min(MAX_SECONDS, BASE_SECONDS + max(0.0, work)))


def _requested_seconds(task: str, *arguments: object, **_: object) -> int:
    return _runs[task][1](*arguments)


def _work(task: str, *arguments: object) -> Iterator:
    """The one function `spaces.GPU` runs, in its worker on ZeroGPU: task `task`'s run."""
    loading.mark_gpu_process()  # here models load to this process's GPU (a ZeroGPU worker has one)
    yield from _runs[task][0](*arguments)


def on_gpu() -> Callable[..., Iterator]:
    """`_work` under `spaces.GPU` where `spaces` is installed (unchanged unless on ZeroGPU), else `_work`."""
    try:
        import spaces
    except ImportError:
        return _work
    return spaces.GPU(duration=_requested_seconds)(_work)


gpu_run = on_gpu()  # decorated once, at import, before anything forks


def preload() -> list[str]:
    """On ZeroGPU, before launch, on the thread that imported `spaces` (app.py's main thread): the preloaded models
    loaded to its emulated CUDA, so that a new worker only has their weights moved to its GPU; elsewhere nothing.
    Returns the models preloaded (hub ones only if downloaded)."""
    if not catalogue.zero_gpu():
        return []
    import_all()  # the tasks' modules too, before any worker forks
    return loading.preload(PRELOADED_EMBEDDED + PRELOADED_HUB, "cuda")


def warm_up() -> list[str]:
    """Off ZeroGPU (where `preload` loads them before launch), once the page is served: torch imported and the first
    tabs' models loaded in the background, each load begun when no visitor's run waits, so that visitors find them
    loaded and their UNets' graphs compiled (a visitor 15 s after start: both default results in 2.4 s instead of
    13.4 s; bench/results-cold-start.md). Returns the models."""
    if catalogue.zero_gpu():
        return []
    # torch is imported there too (~4 s), not on the thread that serves the page, and a moment later: the first page
    # (a Space's health check, the first visitor's) is not served while the import holds the GIL
    warm_up = threading.Timer(WARM_UP_DELAY_SECONDS, lambda: loading.warm_up(WARMED_UP))
    warm_up.daemon = True
    warm_up.start()
    return list(WARMED_UP)


def register(
    task: str,
    run: Callable[..., Iterator],
    gpu_seconds: Callable[..., float],
    check: Callable[..., None] | None = None,
) -> Callable[..., Iterator]:
    """Make `run(*arguments)` task `task` of `gpu_run`; returns what starts it: `check(*arguments)` in this
    process (it raises gr.Error for bad input, before any GPU is asked for), then `run` through `gpu_run`,
    asking for `gpu_seconds(*arguments)` seconds. Arguments and yielded values must pickle."""
    _runs[task] = (run, gpu_seconds)

    def start(*arguments: object) -> Iterator:
        if check is not None:
            check(*arguments)
        yield from gpu_run(task, *arguments)

    return start


def _whole(value: object, name: str, least: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value != int(value):
        raise gr.Error(f"{name} must be a whole number; got {str(value)[:40]}.")
    if not least <= value <= most:
        raise gr.Error(f"{name} must be between {least} and {most}; got {int(value)}.")


def check_settings(settings: dict, pipeline_classes: tuple[str, ...] = ()) -> None:
    """The settings every tab shares, by handler parameter name, checked in the server before the GPU call:
    the model is in the catalogue (for `pipeline_classes`, or any), steps, batch size, samples and seed are
    whole numbers in their ranges. What depends on the model (its steps' upper limit) is checked by the run."""
    if "model" in settings:
        try:
            classes = pipeline_classes or tuple({item.pipeline_class for item in catalogue.entries()})
            catalogue.entry(settings["model"], classes)
        except ValueError as error:
            raise gr.Error(str(error)) from error
    if "steps" in settings:
        _whole(settings["steps"], "Steps", 1, 10**6)
    if "batch_size" in settings:
        _whole(settings["batch_size"], "Batch size", 1, MAX_BATCH_SIZE)
    if "samples" in settings:
        _whole(settings["samples"], "Samples averaged", 1, MAX_SAMPLES)
    if "seed" in settings and not settings.get("random_seed"):
        _whole(settings["seed"], "Seed", 0, MAX_SEED)
