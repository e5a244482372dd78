"""The model catalogue: the only models this app loads.

The app is public, and its API takes a model name from anyone: a free-text model would let a stranger
probe the server's files ("/etc") or make a Space download any repository, pickle weights included.
So a model is a name in this catalogue, nothing else. Each tab offers the entries whose pipeline
class it runs (`choices`); `entry` looks a name up and refuses every other string with one and the
same message, which names the allowed models and says nothing about the server.

The catalogue is the embedded models (trained by `train/`, in `assets/models/`), then curated hub
repositories that ship safetensors weights. An operator adds entries with a JSON file named by the
environment variable `DIFFUSION_PLAYGROUND_MODELS` (a list of objects with the fields of `Entry`;
`source` may be a hub id or a local diffusers folder), re-read whenever it changes; docs/models.md
shows an example. Hub entries that need a GPU are offered only where there is one (or on ZeroGPU).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "assets" / "models"
OPERATOR_FILE_VARIABLE = "DIFFUSION_PLAYGROUND_MODELS"
HARDWARE = ("cpu", "gpu")  # cpu: fine on 2 cores; gpu: offered only with a GPU (a CPU run would take minutes)


@dataclass(frozen=True)
class Entry:
    """One model the app may load, with what a teacher needs to know to pick it."""

    name: str  # what the UI shows and the API takes: an embedded model's name or a hub id
    pipeline_class: str  # the diffusers pipeline class in its model_index.json: decides the tabs that offer it
    description: str = ""
    source: str = ""  # hub id or local folder; default: the embedded folder of that name, else `name`
    hardware: str = "cpu"
    license: str = ""
    defaults: dict = field(default_factory=dict, hash=False)  # tab settings that suit it: steps, guidance_scale, ...
    half_precision: bool = False  # float16 on CUDA is safe for it
    variant: str = ""  # the weights' file variant where only that one is safetensors ("fp16")
    cpu_bfloat16: bool = False  # its UNet may run in bfloat16 on a CPU that has it: 8-bit images within 1/255

    @property
    def location(self) -> str:
        if self.source:
            return self.source
        embedded = MODELS_DIR / self.name
        return str(embedded) if embedded.is_dir() else self.name

    @property
    def is_local(self) -> bool:
        return Path(self.location).is_dir()

    @property
    def label(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name

    def settings(self) -> dict:
        """The tab settings picking it sets: its class's (`CLASS_SETTINGS`), then its own `defaults`."""
        return {**CLASS_SETTINGS.get(self.pipeline_class, {}), **self.defaults}


# Settings a pipeline class needs whatever the model: Stable Diffusion's upscaler draws one sample (the tab's
# default, 8, is for the models whose loop `pipelines/super_resolution.py` runs), an operator's entries too.
CLASS_SETTINGS = {"StableDiffusionUpscalePipeline": {"samples": 1}}

EMBEDDED = (
    Entry(
        "shapes-ddpm",
        "DDPMPipeline",
        "embedded, 32×32 shapes, trained by this project",
        license="MIT",
        defaults={"scheduler": "DPM-Solver++ SDE", "steps": 50},
    ),
    Entry(
        "shapes-sd",
        "StableDiffusionPipeline",
        "embedded, 32×32 shapes from 8×8 latents, trained by this project",
        license="MIT",
        defaults={"scheduler": "DPM-Solver++", "steps": 25, "guidance_scale": 5.0},
    ),
    Entry(
        "photo-sr-4x",
        "ResidualSuperResolutionPipeline",
        "embedded, photos, trained by this project",
        license="MIT",
        defaults={"scheduler": "DDIM", "steps": 1, "samples": 8},
        cpu_bfloat16=True,  # 1.8x faster; within 1/255 of float32 (tests/test_accelerated.py)
    ),
)
SD_DEFAULTS = {"scheduler": "DPM-Solver++", "steps": 25, "guidance_scale": 7.5}
HUB = (
    Entry(
        "google/ddpm-cifar10-32",
        "DDPMPipeline",
        "hub, 32×32 CIFAR-10 (Ho et al. 2020)",
        license="apache-2.0",
        defaults={"scheduler": "DDIM", "steps": 50},
    ),
    Entry(
        "google/ddpm-cat-256",
        "DDPMPipeline",
        "hub, 256×256 cats (Ho et al. 2020)",
        hardware="gpu",
        license="apache-2.0",
        defaults={"scheduler": "DDIM", "steps": 50},
        half_precision=True,
    ),
    Entry(
        "stabilityai/sd-turbo",
        "StableDiffusionPipeline",
        "hub, 512×512 in 1–4 steps, no guidance (distilled SD 2.1)",
        hardware="gpu",
        license="other (sai-nc-community)",
        defaults={"scheduler": "Euler ancestral", "steps": 2, "guidance_scale": 1.0},
        half_precision=True,
    ),
    Entry(
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "StableDiffusionPipeline",
        "hub, 512×512 Stable Diffusion 1.5",
        hardware="gpu",
        license="creativeml-openrail-m",
        defaults=SD_DEFAULTS,
        half_precision=True,
    ),
    Entry(
        "nota-ai/bk-sdm-tiny",
        "StableDiffusionPipeline",
        "hub, 512×512 distilled SD 1.4 (smaller UNet)",
        hardware="gpu",
        license="creativeml-openrail-m",
        defaults=SD_DEFAULTS,
        half_precision=True,
    ),
    Entry(
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "StableDiffusionInpaintPipeline",
        "hub, 512×512 inpainting UNet",
        hardware="gpu",
        license="creativeml-openrail-m",
        defaults=SD_DEFAULTS,
        half_precision=True,
        variant="fp16",  # its only safetensors weights; loaded in float32 where float16 is not wanted
    ),
    Entry(
        "stabilityai/stable-diffusion-x4-upscaler",
        "StableDiffusionUpscalePipeline",
        "hub, prompt-guided 4× upscaler",
        hardware="gpu",
        license="openrail++",
        defaults={"scheduler": "DDIM", "steps": 20},
        half_precision=True,
    ),
)
# Left out, pickle (.bin/.ckpt) weights only: CompVis/ldm-super-resolution-4x-openimages, google/ddpm-celebahq-256.

DEVICE_VARIABLE = "DIFFUSION_PLAYGROUND_DEVICE"  # cpu, cuda, mps: overrides the automatic choice (`loading.device`)
# On Linux, torch sees a GPU only through a driver: NVIDIA's (CUDA), AMD's (ROCm, which torch calls CUDA too), or
# WSL 2's (/dev/dxg, CUDA through Windows' driver)
GPU_DRIVERS = ("/proc/driver/nvidia/version", "/dev/kfd", "/dev/dxg")


def has_gpu() -> bool:
    """A GPU to run the "gpu" entries: CUDA or Apple's MPS, or a ZeroGPU Space (whose GPU comes per call)."""
    if zero_gpu():
        return True
    # known without importing torch (~2 s) where possible: the UI is built without it (`pipelines/defaults`); a machine
    # with a GPU driver (or a Mac) imports it here, as the UI is built
    if os.environ.get(DEVICE_VARIABLE, "").strip().lower() == "cpu":
        return False
    if sys.platform == "linux" and not any(Path(driver).exists() for driver in GPU_DRIVERS):
        return False
    import torch

    return torch.cuda.is_available() or torch.backends.mps.is_available()


def zero_gpu() -> bool:
    """On a ZeroGPU Space (`spaces` reads the same variable)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def operator_entries() -> tuple[Entry, ...]:
    """The entries of the operator's file (`DIFFUSION_PLAYGROUND_MODELS`), read at every look-up (a few
    entries: microseconds), so that an edit takes effect without a restart."""
    path = os.environ.get(OPERATOR_FILE_VARIABLE)
    if not path:
        return ()
    known = {item.name for item in fields(Entry)}
    items = json.loads(Path(path).read_text())
    for item in items:
        if set(item) - known or item.get("hardware", "cpu") not in HARDWARE:
            raise ValueError(f"{path}: entry {item.get('name')!r} has unknown fields or hardware: {item}")
    return tuple(Entry(**item) for item in items)


_registered: list[Entry] = []  # local folders registered by this process's own scripts (train/, bench/)


def register_folder(folder: str | Path, description: str = "") -> str:
    """Let this process load a local diffusers folder (a model just trained, say); returns its catalogue name.

    For the project's own scripts: nothing a user sends reaches it. The app's operator lists models in
    the operator file instead."""
    name = str(folder)
    if not any(item.name == name for item in _registered):
        pipeline_class = json.loads((Path(folder) / "model_index.json").read_text())["_class_name"]
        _registered.append(Entry(name, pipeline_class, description, source=name))
    return name


def entries() -> tuple[Entry, ...]:
    """Every entry this machine offers: embedded first, then the hub's and the operator's that its hardware runs."""
    gpu = has_gpu()
    return tuple(
        item for item in EMBEDDED + HUB + operator_entries() + tuple(_registered) if gpu or item.hardware == "cpu"
    )


def choices(pipeline_classes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(label, name) pairs for a tab's model dropdown: the entries of `pipeline_classes`, in catalogue order."""
    return [(item.label, item.name) for item in entries() if item.pipeline_class in pipeline_classes]


def entry(model: object, pipeline_classes: tuple[str, ...]) -> Entry:
    """The catalogue entry named `model` that a tab running `pipeline_classes` can use.

    Every other value (a path, a folder, an unlisted hub id, a model of another tab, not a string) gets
    the same ValueError, naming the models allowed: it says nothing about what exists on the server.
    """
    for item in entries():
        if isinstance(model, str) and model.strip() == item.name and item.pipeline_class in pipeline_classes:
            return item
    allowed = ", ".join(name for _, name in choices(pipeline_classes))
    raise ValueError(f"That model is not in this app's catalogue. Choose one of: {allowed}.")
