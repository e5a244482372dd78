"""Loading in one place: model id or folder -> cached pipeline, and schedulers by name.

The embedded models in `assets/models/` are ordinary diffusers folders, so they go
through the same `from_pretrained` as hub repositories. Weights are loaded once and
shared; every request gets a scheduler of its own (`make_scheduler`), because
schedulers keep per-run state (timesteps, step index, multistep history).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DEISMultistepScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from pipelines import torch_thread

MODELS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"

# Display name -> scheduler class and the settings that make it that sampler.
SCHEDULERS: dict[str, tuple[type[SchedulerMixin], dict]] = {
    "DPM-Solver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
    "DPM-Solver++ SDE": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++"}),
    "UniPC": (UniPCMultistepScheduler, {}),
    "DEIS": (DEISMultistepScheduler, {}),
    "DDIM": (DDIMScheduler, {}),
    "DDPM": (DDPMScheduler, {}),
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler ancestral": (EulerAncestralDiscreteScheduler, {}),
    "Heun": (HeunDiscreteScheduler, {}),
}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_model(model: str) -> str:
    """The name of an embedded model ("shapes-ddpm") becomes its folder; anything else is a hub id or a path."""
    embedded = MODELS_DIR / model
    return str(embedded) if model and "/" not in model and embedded.is_dir() else model


_loading = threading.Lock()  # two first requests for one model load it once


def load_pipeline(model: str, pipeline_classes: tuple[str, ...]) -> DiffusionPipeline:
    """The shared, cached pipeline of `model`, which must be one of `pipeline_classes` ("DDPMPipeline", ...).

    Raises ValueError with the reason if it is not or cannot be loaded. The class is read from the
    small model_index.json first, so that a model of another kind is never downloaded whole. Tabs
    that take the same model (text to image, inpainting) share one loaded copy.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError("Choose a model: an embedded one, a Hugging Face hub id or a local diffusers folder.")
    model = resolve_model(model.strip())
    with _loading:
        try:
            class_name = DiffusionPipeline.load_config(model).get("_class_name")
            if class_name not in pipeline_classes:
                raise ValueError(
                    f"Model '{model}' is a {class_name}; this tab takes a {' or '.join(pipeline_classes)}."
                )
            return _load_cached(model)
        except ValueError:
            raise
        except Exception as error:  # any failure to load is the user's model choice, reported as such
            embedded = ", ".join(sorted(path.name for path in MODELS_DIR.iterdir() if path.is_dir()))
            reason = str(error).split(". ")[0][:300]
            raise ValueError(
                f"Could not load model '{model}' ({type(error).__name__}: {reason}). Choose an embedded model "
                f"({embedded}), a local diffusers folder, or a Hugging Face hub id (downloading one needs internet)."
            ) from error


@lru_cache(maxsize=4)
def _load_cached(model: str) -> DiffusionPipeline:
    return torch_thread.run(lambda: DiffusionPipeline.from_pretrained(model).to(device()))


MULTISTEP_SOLVERS = ("DPM-Solver++", "DPM-Solver++ SDE", "UniPC", "DEIS")


def max_steps(name: str, config: dict) -> int:
    """The most steps scheduler `name` can take on a model trained with `config`.

    Every sampler can visit each training timestep once, except diffusers' multistep solvers
    with "leading" or "linspace" spacing: asked for all T timesteps they step past the end of
    their sigmas (IndexError), so they stop one short.
    """
    steps = config["num_train_timesteps"]
    return steps - 1 if name in MULTISTEP_SOLVERS and config.get("timestep_spacing") != "trailing" else steps


def make_scheduler(name: str, config: dict) -> SchedulerMixin:
    """A fresh scheduler `name` built from a model's own scheduler config (noise schedule, prediction type)."""
    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler '{name}'; choose one of: {', '.join(SCHEDULERS)}.")
    scheduler_class, settings = SCHEDULERS[name]
    return scheduler_class.from_config(config, **settings)
