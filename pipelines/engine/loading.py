"""Loading in one place: a catalogue name -> cached pipeline on the right device, and schedulers by name.

Only models of the catalogue (`pipelines/engine/catalogue.py`) are loaded, safetensors weights only, never
remote code. The embedded models in `assets/models/` are ordinary diffusers folders, so they go
through the same `from_pretrained` as hub repositories. Weights are loaded once, kept in a cache
bounded by a memory budget (least recently used evicted), and shared by the tabs that take the same
model; every request gets a scheduler of its own (`make_scheduler`), because schedulers keep per-run
state (timesteps, step index, multistep history).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import diffusers
import torch
from diffusers import DDPMScheduler, DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from pipelines.defaults.schedulers import SCHEDULERS
from pipelines.engine import accelerated, catalogue, solver_steps, torch_thread
from pipelines.engine.catalogue import DEVICE_VARIABLE, MODELS_DIR, Entry  # noqa: F401  (MODELS_DIR: where tests and train/ look)
from pipelines.models.residual_super_resolution import ResidualSuperResolutionPipeline

DTYPE_VARIABLE = "DIFFUSION_PLAYGROUND_DTYPE"  # float32, float16, bfloat16
BUDGET_VARIABLE = "DIFFUSION_PLAYGROUND_MODEL_MEMORY_GB"  # loaded pipelines' weights kept at most (default 8)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


# This project's own pipeline classes, which diffusers cannot look up by the name in a model_index.json.
PROJECT_PIPELINES = {"ResidualSuperResolutionPipeline": ResidualSuperResolutionPipeline}
IDLE_SECONDS = 0.2  # the torch thread idle this long on end: the warm-up's next load may begin
LOAD_FAILURE = "Could not load {model}: {reason} The other models of this tab keep working (embedded: {fallback})."


_gpu_process: list[int] = []  # the id of the process that runs GPU work on ZeroGPU (`mark_gpu_process`)


def mark_gpu_process() -> None:
    """Called by the app's GPU function (`ui/gpu.py`) where it runs: on ZeroGPU, a worker forked from the server."""
    _gpu_process[:] = [os.getpid()]


def device() -> torch.device:
    """The device of this process's models, chosen here only; `DEVICE_VARIABLE` overrides it.

    On ZeroGPU, the server process never uses CUDA: `spaces` makes `torch.cuda.is_available()` True on
    every thread there but emulates CUDA on the importing thread only, so whatever runs in the server
    (How it works' views, the toy) runs on the CPU. In a ZeroGPU worker (`mark_gpu_process`), and anywhere
    else: CUDA where there really is a GPU, else Apple's MPS, else the CPU."""
    chosen = os.environ.get(DEVICE_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in ("cpu", "cuda", "mps"):
            raise ValueError(f"{DEVICE_VARIABLE} must be cpu, cuda or mps; got {chosen!r}.")
        return torch.device(chosen)
    if catalogue.zero_gpu() and os.getpid() not in _gpu_process:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("mps" if torch.backends.mps.is_available() else "cpu")


def dtype(model: Entry, on: torch.device) -> torch.dtype:
    """float16 on CUDA for the models that allow it (half the memory, about twice the speed), else float32;
    or `DTYPE_VARIABLE`. CPUs gain nothing from float16 (no fast half kernels) and lose precision."""
    chosen = os.environ.get(DTYPE_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in DTYPES:
            raise ValueError(f"{DTYPE_VARIABLE} must be one of {', '.join(DTYPES)}; got {chosen!r}.")
        return DTYPES[chosen]
    return torch.float16 if on.type == "cuda" and model.half_precision else torch.float32


def memory_budget() -> int:
    """Bytes of weights the cache keeps loaded at most."""
    return int(float(os.environ.get(BUDGET_VARIABLE, "8")) * 2**30)


def weight_bytes(pipeline: DiffusionPipeline) -> int:
    return sum(
        parameter.numel() * parameter.element_size()
        for component in pipeline.components.values()
        if isinstance(component, torch.nn.Module)
        for parameter in component.parameters()
    )


_cache: OrderedDict[str, tuple[DiffusionPipeline, int]] = OrderedDict()  # name -> (pipeline, bytes), oldest first
_cache_lock = threading.Lock()  # for the dictionary's own operations: never held while waiting for anything


def _cached(name: str) -> DiffusionPipeline | None:
    with _cache_lock:
        if name not in _cache:
            return None
        _cache.move_to_end(name)  # the most recently used
        return _cache[name][0]


def is_loaded(model: str) -> bool:
    return model in _cache


def load_pipeline(model: object, pipeline_classes: tuple[str, ...]) -> DiffusionPipeline:
    """The shared, cached pipeline of catalogue model `model`, one of `pipeline_classes` ("DDPMPipeline", ...).

    Anything not in the catalogue for these classes is refused (`catalogue.entry`); a model that fails to
    load raises ValueError saying why in plain words (`why_not_loaded`). Tabs that take the same model
    (text to image, inpainting) share one loaded copy. A hub model is downloaded on the caller's thread,
    so that other users' runs go on meanwhile; a model is loaded and put in the cache on the torch thread,
    which serialises loads without a lock held across them (one held while waiting for the torch thread
    would deadlock with a loop on that thread asking for a model).
    """
    entry = catalogue.entry(model, pipeline_classes)
    if (pipeline := _cached(entry.name)) is not None:  # most calls: no need to wait for the torch thread
        return pipeline
    try:
        folder = entry.location if entry.is_local or is_loaded(entry.name) else _download(entry)
        return torch_thread.run(_cached_or_loaded, entry, folder)
    except Exception as error:
        raise load_failure(entry, error, pipeline_classes) from error


def scheduler_config(model: object, pipeline_classes: tuple[str, ...]) -> dict:
    """The scheduler config of catalogue model `model` (its noise schedule), read from its files: no weights
    are loaded for it (the How it works tab's curves run in the server, which on ZeroGPU has no GPU)."""
    entry = catalogue.entry(model, pipeline_classes)
    if (pipeline := _cached(entry.name)) is not None:
        return dict(pipeline.scheduler.config)
    try:
        folder = entry.location if entry.is_local else _download(entry)
        return DDPMScheduler.load_config(folder, subfolder="scheduler")
    except Exception as error:
        raise load_failure(entry, error, pipeline_classes) from error


def _download(entry: Entry, local_files_only: bool = False) -> str:
    """The local folder of a hub model's files (safetensors only), fetched once into the hub's cache."""
    return DiffusionPipeline.download(
        entry.location, use_safetensors=True, variant=entry.variant or None, local_files_only=local_files_only
    )


def _cached_or_loaded(entry: Entry, folder: str) -> DiffusionPipeline:
    """On the torch thread: the cached pipeline, or the model loaded from `folder` into the cache, evicting the
    least recently used until the weights fit the budget."""
    if (pipeline := _cached(entry.name)) is not None:  # loaded meanwhile, for another request
        return pipeline
    pipeline = _from_pretrained(entry, folder)
    size = weight_bytes(pipeline)
    with _cache_lock:
        while _cache and sum(bytes_ for _, bytes_ in _cache.values()) + size > memory_budget():
            _cache.popitem(last=False)
        _cache[entry.name] = (pipeline, size)
    return pipeline


def preload(models: tuple[str, ...], on: str) -> list[str]:
    """Load catalogue `models` into the cache on device `on`, on this thread; returns those loaded.

    On ZeroGPU (`ui/gpu.py`), at start-up on the thread that imported `spaces`, to CUDA: `spaces` emulates it
    there, packs the weights to disk at launch, and moves them to each new worker's GPU instead of the worker
    loading them. The server itself never runs them. A hub model is preloaded only if its files are on disk
    (`preload_from_hub` puts them there when the Space is built); the others load on first use."""
    preloaded = []
    for name in models:
        entry = next(item for item in catalogue.EMBEDDED + catalogue.HUB if item.name == name)
        try:
            folder = entry.location if entry.is_local else _download(entry, local_files_only=True)
        except OSError:  # not downloaded
            continue
        pipeline = _from_pretrained(entry, folder, torch.device(on))
        with _cache_lock:
            _cache[entry.name] = (pipeline, weight_bytes(pipeline))
        preloaded.append(entry.name)
    return preloaded


def warm_up(models: tuple[str, ...]) -> list[str]:
    """Load the embedded `models` into the cache, one after another, each a long job of the torch thread begun once
    the thread has been idle for IDLE_SECONDS: a visitor's run goes before the next load instead of waiting for all of
    it (bench/results-cold-start.md). Blocks until they are loaded (`ui/gpu.py` runs it in a thread of its own);
    returns their names."""
    entries = [entry for entry in catalogue.EMBEDDED if entry.name in models]
    for entry in entries:
        torch_thread.wait_until_idle(IDLE_SECONDS)
        torch_thread.start(_cached_or_loaded, entry, entry.location).result()
    return [entry.name for entry in entries]


def _from_pretrained(entry: Entry, folder: str, on: torch.device | None = None) -> DiffusionPipeline:
    on = on or device()
    # Safetensors only: pickle weights can run code when loaded. No remote code: the only pipeline classes
    # not from diffusers are this project's own (`PROJECT_PIPELINES`).
    pipeline_class = PROJECT_PIPELINES.get(entry.pipeline_class, DiffusionPipeline)
    pipeline = pipeline_class.from_pretrained(
        folder,
        use_safetensors=True,
        trust_remote_code=False,
        dtype=dtype(entry, on),
        variant=entry.variant or None,
    )
    pipeline = pipeline.to(on)
    if on.type == "cpu":
        align_weights(pipeline)
    if getattr(pipeline, "unet", None) is not None:
        # its exported graph, if any, or bfloat16 where its entry allows it (CPU only)
        accelerated.prepare(pipeline.unet, Path(folder) / "unet", on, bfloat16=entry.cpu_bfloat16)
    return pipeline


ALIGNMENT = 64  # bytes: torch's CPU allocator's, and what a ZeroGPU worker's weights have (copies of the packed ones)


def align_weights(pipeline: DiffusionPipeline) -> None:
    """Copy every weight that safetensors mapped at an unaligned address (a file's tensors lie at the offsets the
    file gives them) into memory of its own. torch's CPU kernels sum in another order on unaligned memory, so the
    same model gave other floats in a ZeroGPU worker, whose weights are aligned copies: How it works' error of
    shapes-ddpm, 0.1254086047 mapped against 0.1254086196 copied. Aligned everywhere, every process computes the
    same floats."""
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            for tensor in (*component.parameters(), *component.buffers()):
                if tensor.data_ptr() % ALIGNMENT:
                    tensor.data = tensor.data.clone()


def load_failure(entry: Entry, error: BaseException, pipeline_classes: tuple[str, ...]) -> ValueError:
    reason = why_not_loaded(error)
    return ValueError(LOAD_FAILURE.format(model=entry.name, reason=reason, fallback=fallback(pipeline_classes)))


def fallback(pipeline_classes: tuple[str, ...]) -> str:
    return next((item.name for item in catalogue.EMBEDDED if item.pipeline_class in pipeline_classes), "none")


def why_not_loaded(error: BaseException) -> str:
    """A failure to load, in words a teacher understands: no internet, gated or private, a missing file, memory."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    chain = []
    while error is not None and len(chain) < 20:
        chain.append(error)
        error = error.__cause__ or error.__context__
    names = {type(item).__name__ for item in chain}
    text = " ".join(str(item) for item in chain).lower()
    if any(isinstance(item, GatedRepoError) for item in chain):
        return (
            "the model is gated: accept its licence on its Hugging Face page, then give the Space a token of that "
            "account (the HF_TOKEN secret)."
        )
    if any(isinstance(item, RepositoryNotFoundError) for item in chain):
        return "the repository is private or no longer exists on the Hugging Face hub."
    if any(isinstance(item, (torch.cuda.OutOfMemoryError, MemoryError)) for item in chain):
        return "not enough memory for it on this machine; pick a smaller model or larger hardware."
    offline = names & {"ConnectError", "ConnectionError", "ConnectTimeout", "NetworkError", "gaierror"}
    if offline or any(isinstance(item, (OfflineModeIsEnabled, LocalEntryNotFoundError)) for item in chain):
        return "this machine cannot reach the Hugging Face hub (no internet), and the model is not downloaded yet."
    if "safetensors" in text:
        return "the repository has no safetensors weights for every part, and this app loads no pickle weights."
    if any(isinstance(item, (EntryNotFoundError, FileNotFoundError)) for item in chain) or "no file named" in text:
        return "a file the model needs is missing from its repository or folder."
    return f"{type(chain[0]).__name__}: {str(chain[0])[:200]}."


MULTISTEP_SOLVERS = ("DPM-Solver++", "DPM-Solver++ SDE", "UniPC", "DEIS")


def max_steps(name: str, config: dict) -> int:
    """The most steps scheduler `name` can take on a model trained with `config`.

    Every sampler can visit each training timestep once, except diffusers' multistep solvers
    with "leading" or "linspace" spacing: asked for all T timesteps they step past the end of
    their sigmas (IndexError), so they stop one short.
    """
    steps = config["num_train_timesteps"]
    return steps - 1 if name in MULTISTEP_SOLVERS and config.get("timestep_spacing") != "trailing" else steps


def make_scheduler(name: str, config: dict, plain: bool = False) -> SchedulerMixin:
    """A fresh scheduler `name` built from a model's own scheduler config (noise schedule, prediction type);
    DPM-Solver++ with its coefficients tabled (`solver_steps`: the same steps, bit for bit), unless `plain` (diffusers'
    own class, as the benchmarks' plain calls use)."""
    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler '{name}'; choose one of: {', '.join(SCHEDULERS)}.")
    class_name, settings = SCHEDULERS[name]
    scheduler_class = getattr(diffusers, class_name)
    if not plain and scheduler_class is diffusers.DPMSolverMultistepScheduler:
        scheduler_class = solver_steps.MultistepScheduler
    return scheduler_class.from_config(config, **settings)
