"""Comparison grids: the same seed run again with one setting changed, cell by cell, as one labelled image.

    from pipelines import grids
    for step in grids.guidance_sweep_steps("shapes-sd", "a red circle", seed=0, scales="1, 2, 4, 8, 16"):
        print(step.cell, step.frame.step)      # the cell running, its latest frame (x̂0 so far)
    grid = grids.grid_image(step.labels, step.images, step.seconds)

A guidance sweep runs text to image at several classifier-free guidance scales (Ho & Salimans 2022);
a strength sweep runs image to image of one input at several strengths (SDEdit: how much of the input survives);
a sampler comparison runs one task through several scheduler × steps pairs. Every cell is exactly the
single run of its settings (`text_to_image.generate_steps`, `unconditional.generate_steps`, batch 1),
so any cell can be made again alone on its tab. Grids are capped in cells and in steps (`MAX_CELLS`,
`MAX_TOTAL_STEPS`): the cells run one after another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines import defaults
from pipelines.defaults.schedulers import SCHEDULERS
from pipelines.engine.frames import Frame, LatentFrame
from pipelines.lazy import lazy

image_to_image = lazy("pipelines.image_to_image")
loading = lazy("pipelines.engine.loading")
text_to_image = lazy("pipelines.text_to_image")
unconditional = lazy("pipelines.unconditional")

MAX_CELLS = 8
MAX_LIST_CHARACTERS = 400  # a grid's list of scales or samplers: 8 cells fit in a few dozen
# Steps of all cells together: under 30 s of the embedded models on 2 CPU cores (10-21 ms a step, docs/compare.md).
MAX_TOTAL_STEPS = 2000
DEFAULT_SCALES = "1, 2, 4, 8, 16"
DEFAULT_STRENGTHS = "0.2, 0.4, 0.6, 0.8, 1"
TASKS: dict[str, ModuleType] = {"Unconditional": unconditional, "Text to image": text_to_image}
# 13-15 s on 2 cores for the embedded models (docs/compare.md): DDPM at (or near) its training steps beside
# the fast samplers, which get there in 10-50 steps.
DEFAULT_SAMPLERS = {
    "Unconditional": "DDPM 1000, DDIM 10, DDIM 50, DPM-Solver++ 10, DPM-Solver++ 25, Euler ancestral 25",
    "Text to image": "DDPM 500, DDIM 10, DDIM 50, DPM-Solver++ 10, DPM-Solver++ 25, Euler ancestral 25",
}
CELL_SIZE = 128  # small images are enlarged (nearest neighbour) to about this many pixels
TEXT_SIZE = 13
PADDING = 6
BACKGROUND, TEXT, PENDING = (255, 255, 255), (20, 20, 20), (225, 225, 225)


def shown(entry: str) -> str:
    return entry if len(entry) <= 40 else entry[:39] + "…"


def entries(text: object, what: str, example: str) -> list[str]:
    """The comma-separated entries of `text`; at least one and at most MAX_CELLS."""
    if not isinstance(text, str):
        raise ValueError(f"The {what} must be text, e.g. “{example}”.")
    if len(text) > MAX_LIST_CHARACTERS:
        raise ValueError(f"The {what} take at most {MAX_LIST_CHARACTERS} characters, e.g. “{example}”.")
    found = [entry.strip() for entry in re.split(r"[,;\n]", text) if entry.strip()]
    if not found:
        raise ValueError(f"Give at least one of the {what}, separated by commas, e.g. “{example}”.")
    if len(found) > MAX_CELLS:
        raise ValueError(f"A grid has at most {MAX_CELLS} cells; got {len(found)} {what}.")
    return found


def parse_numbers(text: object, what: tuple[str, str], example: str, low: float, high: float, ends: str) -> list[float]:
    """“1, 2, 4” -> [1.0, 2.0, 4.0]: numbers from `low` to `high` (`ends` says what those are); `what`: the numbers'
    name, plural and singular."""
    numbers = []
    for entry in entries(text, what[0], example):
        try:
            number = float(entry)
        except ValueError:
            number = math.nan
        if not low <= number <= high:  # also refuses nan and infinities
            raise ValueError(f"“{shown(entry)}” is not {what[1]}: give numbers from {ends}, separated by commas.")
        numbers.append(number)
    return numbers


def parse_scales(text: object) -> list[float]:
    """“1, 2, 4, 8, 16” -> [1.0, 2.0, 4.0, 8.0, 16.0]: guidance scales from 1 (no guidance) to the maximum."""
    maximum = defaults.text_to_image.MAX_GUIDANCE_SCALE
    names = ("guidance scales", "a guidance scale")
    return parse_numbers(text, names, DEFAULT_SCALES, 1, maximum, f"1 (no guidance) to {maximum:g}")


def parse_strengths(text: object) -> list[float]:
    """“0.2, 0.6, 1” -> [0.2, 0.6, 1.0]: image-to-image strengths from 0 (the input) to 1 (from pure noise)."""
    names = ("strengths", "a strength")
    return parse_numbers(text, names, DEFAULT_STRENGTHS, 0, 1, "0 (keep the input) to 1 (start from noise)")


def parse_samplers(text: object) -> list[tuple[str, int]]:
    """“DDIM 10, DPM-Solver++ 25” -> [("DDIM", 10), ("DPM-Solver++", 25)]: scheduler names of the app, any case."""
    names = {name.lower(): name for name in SCHEDULERS}
    pairs = []
    for entry in entries(text, "samplers", DEFAULT_SAMPLERS["Unconditional"]):
        name, _, steps = entry.rpartition(" ")
        scheduler = names.get(" ".join(name.split()).lower())
        if scheduler is None:
            raise ValueError(
                f"Unknown sampler in “{shown(entry)}”: write a sampler and its steps, e.g. “DDIM 50”, with one of: "
                f"{', '.join(SCHEDULERS)}."
            )
        if not steps.isdigit():
            raise ValueError(f"“{shown(entry)}”: the steps must be a whole number, e.g. “{scheduler} 25”.")
        pairs.append((scheduler, int(steps)))
    return pairs


def check_steps(task: ModuleType, model: str, pairs: list[tuple[str, int]]) -> None:
    """Every cell within its scheduler's steps on `model` (loaded, so unknown models are refused here), and the
    whole grid within MAX_TOTAL_STEPS: checked before any cell runs."""
    config = loading.load_pipeline(model, task.PIPELINE_CLASSES).scheduler.config
    for scheduler, steps in pairs:
        most = loading.max_steps(scheduler, config)
        if not 1 <= steps <= most:
            raise ValueError(f"{scheduler} {steps}: steps must be between 1 and {most} for this model and scheduler.")
    total = sum(steps for _, steps in pairs)
    if total > MAX_TOTAL_STEPS:
        raise ValueError(
            f"The grid asks for {total} steps in all; at most {MAX_TOTAL_STEPS} (under 30 s of the embedded models "
            "on 2 CPU cores): take fewer cells or fewer steps."
        )


@dataclass(frozen=True)
class GridStep:
    """Where a grid is: every cell's label, the finished cells' images and times, the running cell's frame."""

    labels: tuple[str, ...]  # every cell's, in order
    images: tuple[np.ndarray, ...]  # the finished cells' images, (height, width, 3) uint8, in order
    seconds: tuple[float, ...]  # each finished cell's time
    frame: Frame | LatentFrame  # the latest step of the cell running (the last finished one's, at the end)

    @property
    def cell(self) -> int:
        """Index of the cell this frame belongs to."""
        return len(self.images) - 1 if self.frame.is_last else len(self.images)

    @property
    def is_last(self) -> bool:
        return len(self.images) == len(self.labels)


def run_cells(labels: list[str], runs: list[Callable[[], Iterator[Frame | LatentFrame]]]) -> Iterator[GridStep]:
    """Run the cells one after another, yielding a GridStep after each step of each."""
    images: tuple[np.ndarray, ...] = ()
    seconds: tuple[float, ...] = ()
    for run in runs:
        for frame in run():
            if frame.is_last:
                images, seconds = images + (frame.predicted_original[0],), seconds + (frame.elapsed,)
            yield GridStep(tuple(labels), images, seconds, frame)


def scale_label(scale: float) -> str:
    return "no guidance" if scale == 1 else f"guidance {scale:g}"


def guidance_sweep_steps(
    model: str = defaults.text_to_image.DEFAULT_MODEL,
    prompt: str = "",
    seed: int = 0,
    scales: str = DEFAULT_SCALES,
    scheduler: str = defaults.text_to_image.DEFAULT_SCHEDULER,
    steps: int = defaults.text_to_image.DEFAULT_STEPS,
    negative_prompt: str = "",
) -> Iterator[GridStep]:
    """Text to image of one prompt and seed at each guidance scale of `scales` (text: “1, 2, 4”)."""
    guidance_scales = parse_scales(scales)
    check_steps(text_to_image, model, [(scheduler, steps)] * len(guidance_scales))
    runs = [
        lambda scale=scale: text_to_image.generate_steps(
            model, prompt, negative_prompt, scale, scheduler, steps, seed, 1
        )
        for scale in guidance_scales
    ]
    return run_cells([scale_label(scale) for scale in guidance_scales], runs)


def strength_sweep_steps(
    model: str = defaults.image_to_image.DEFAULT_MODEL,
    image: Image.Image | None = None,
    prompt: str = "",
    seed: int = 0,
    strengths: str = DEFAULT_STRENGTHS,
    scheduler: str = defaults.image_to_image.DEFAULT_SCHEDULER,
    steps: int = defaults.image_to_image.DEFAULT_STEPS,
) -> Iterator[GridStep]:
    """Image to image of one input (made by `image_to_image.prepare`) and seed at each strength of `strengths`."""
    values = parse_strengths(strengths)
    if image is None:
        raise ValueError(image_to_image.NO_IMAGE)
    check_steps(image_to_image, model, [(scheduler, steps)] * len(values))
    guidance = defaults.text_to_image.DEFAULT_GUIDANCE_SCALE
    runs = [
        lambda strength=strength: image_to_image.generate_steps(
            model, image, prompt, "", strength, guidance, scheduler, steps, seed
        )
        for strength in values
    ]
    return run_cells([f"strength {strength:g}" for strength in values], runs)


def sampler_comparison_steps(
    task: str = "Unconditional",
    model: str | None = None,
    prompt: str = "",
    seed: int = 0,
    samplers: str = DEFAULT_SAMPLERS["Unconditional"],
) -> Iterator[GridStep]:
    """Task `task` (“Unconditional” or “Text to image”, at its default guidance) with one seed through each
    “scheduler steps” pair of `samplers`."""
    if task not in TASKS:
        raise ValueError(f"The task must be one of: {', '.join(TASKS)}; got “{shown(str(task))}”.")
    module = TASKS[task]
    model = module.DEFAULT_MODEL if model is None else model
    pairs = parse_samplers(samplers)
    check_steps(module, model, pairs)
    if module is text_to_image:
        guidance = defaults.text_to_image.DEFAULT_GUIDANCE_SCALE
        runs = [
            lambda name=name, steps=steps: text_to_image.generate_steps(model, prompt, "", guidance, name, steps, seed)
            for name, steps in pairs
        ]
    else:
        runs = [
            lambda name=name, steps=steps: unconditional.generate_steps(model, name, steps, seed)
            for name, steps in pairs
        ]
    return run_cells([f"{name}\n{steps} steps" for name, steps in pairs], runs)


def grid_image(
    labels: tuple[str, ...] | list[str],
    images: tuple[np.ndarray, ...] | list[np.ndarray],
    seconds: tuple[float, ...] | list[float],
    running: tuple[np.ndarray, str] | None = None,
) -> np.ndarray:
    """One image of every cell with its label and time below it: the finished cells, then the running one
    (`running`: its x̂0 so far and a line such as “step 3 / 25”), then empty cells still to come."""
    if not images and running is None:
        raise ValueError("A grid needs at least one image.")
    size = (images[0] if images else running[0]).shape[:2]
    scale = max(1, CELL_SIZE // max(size))
    font = ImageFont.load_default(size=TEXT_SIZE)
    texts = [f"{label}\n{time:.2f} s" for label, time in zip(labels, seconds)] + list(labels[len(seconds) :])
    if running is not None:
        texts[len(images)] += f"\n{running[1]}"
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max(measure.textlength(line, font=font) for text in texts for line in text.split("\n"))
    cell_width = max(size[1] * scale, math.ceil(text_width)) + 2 * PADDING
    line_height = TEXT_SIZE + 3
    cell_height = size[0] * scale + 2 * PADDING + line_height * max(text.count("\n") + 1 for text in texts)
    columns = len(labels) if len(labels) <= 5 else math.ceil(len(labels) / 2)
    rows = math.ceil(len(labels) / columns)
    canvas = Image.new("RGB", (columns * cell_width, rows * cell_height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    pictures = list(images) + ([running[0]] if running is not None else [])
    for index, text in enumerate(texts):
        left, top = (index % columns) * cell_width, (index // columns) * cell_height
        image_left = left + (cell_width - size[1] * scale) // 2
        if index < len(pictures):
            picture = Image.fromarray(pictures[index]).resize((size[1] * scale, size[0] * scale), Image.NEAREST)
            canvas.paste(picture, (image_left, top + PADDING))
        else:
            draw.rectangle(
                (image_left, top + PADDING, image_left + size[1] * scale - 1, top + PADDING + size[0] * scale - 1),
                fill=PENDING,
            )
        for line_index, line in enumerate(text.split("\n")):
            y = top + 2 * PADDING + size[0] * scale + line_index * line_height
            draw.text((left + cell_width / 2, y), line, fill=TEXT, font=font, anchor="ma")
    return np.asarray(canvas)
