"""What a run leaves to take home: the result PNG with its settings, the trajectory animation, a contact sheet.

    files = keepsakes("text_to_image", settings, frames, result_image)
    files.png, files.animation, files.sheet  # paths in this run's own folder under KEEPSAKES_DIR

`settings` are the task's handler parameters as the run used them (the seed drawn, steps a whole number), so
that the PNG's `parameters` text (pipelines.keepsakes.png_info) gives the same image again. Each run writes into a new
folder under the system's temp folder, which Gradio serves from (it copies each file it sends into its cache);
folders older than KEEP_SECONDS are removed when a later run writes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.engine.frames import Frame, LatentFrame
from pipelines.keepsakes.animation import MAX_FRAMES, contact_sheet, save_animation, subsample, trajectory_animation
from pipelines.keepsakes.png_info import parameters_text, png_with_parameters

KEEPSAKES_DIR = Path(tempfile.gettempdir()) / "diffusion-playground-keepsakes"
KEEP_SECONDS = 3600
# Decoding latent x̂0 for the animation may add about this share of the run's own time (at least one decode,
# the first step's): a 512x512 decode of the embedded super-resolution model costs a third of its whole 20-step
# run, so its animation shows the first and the last x̂0 (bench/results-animation.md, `python -m bench.animation`).
DECODE_SHARE = 0.25


@dataclass(frozen=True)
class Keepsakes:
    png: Path | None  # the result with its settings; None for a run stopped before its end
    animation: Path
    sheet: Path


def run_folder() -> Path:
    """A new folder for one run's files; those of runs older than KEEP_SECONDS are removed."""
    KEEPSAKES_DIR.mkdir(parents=True, exist_ok=True)
    for folder in KEEPSAKES_DIR.iterdir():
        try:
            modified = folder.stat().st_mtime
        except FileNotFoundError:  # removed meanwhile by another run ending at the same time (a class of 30 did)
            continue
        if time.time() - modified > KEEP_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=KEEPSAKES_DIR))


def keepsakes(
    task: str,
    settings: Mapping[str, object],
    frames: Sequence[Frame | LatentFrame],
    result: np.ndarray | None,
) -> Keepsakes:
    """Write the run's files: `result` (the image shown, uint8 HxWx3; None if stopped) as a PNG carrying
    `settings` and the task, the trajectory animation and the contact sheet of `frames`."""
    folder = run_folder()
    last = frames[-1]
    name = f"{task}-seed{settings['seed']}"
    chosen = subsample(frames, MAX_FRAMES)
    decode_seconds = DECODE_SHARE * last.elapsed
    animation = trajectory_animation(chosen, folder / f"{name}-trajectory.webp", decode_seconds=decode_seconds)
    sheet = contact_sheet(chosen, folder / f"{name}-contact-sheet.png", decode_seconds=0)  # the animation's x̂0
    if result is None:
        return Keepsakes(None, animation, sheet)
    height, width = last.predicted_original.shape[1:3]
    batch_size = int(settings.get("batch_size", 1))
    seeds = list(range(settings["seed"], settings["seed"] + batch_size)) if batch_size > 1 else None
    text = parameters_text({"task": task, **settings, "size": (width, height), "seeds": seeds})
    return Keepsakes(png_with_parameters(result, text, folder / f"{name}.png"), animation, sheet)


def training_keepsakes(
    pictures: Sequence[np.ndarray], weights: Mapping[str, np.ndarray], settings: Mapping[str, object]
) -> tuple[Path, Path]:
    """A live training's files (the Train tab): its network's weights as safetensors, float32, the settings in the
    metadata (load them into `pipelines.toy2d.NoisePredictor(width)`), and the animation of its `pictures` (the
    field and the samples at each snapshot). Returns their paths."""
    from safetensors.numpy import save_file

    folder = run_folder()
    weights_path = folder / "toy-denoiser.safetensors"
    save_file(
        {name: np.ascontiguousarray(value) for name, value in weights.items()},
        weights_path,
        metadata={name: str(value) for name, value in settings.items()},
    )
    animation = save_animation([Image.fromarray(picture) for picture in pictures], folder / "training.webp")
    return weights_path, animation
