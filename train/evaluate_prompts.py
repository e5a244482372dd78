"""Does the text-to-image model draw what the prompt says? And does inpainting repaint what it is told?

    python -m train.evaluate --text-to-image   # prompt following at the app's defaults and at guidance 1
    python -m train.evaluate --inpainting      # repaint one object of a scene as another

Images are drawn through the app's own code (`pipelines.text_to_image`, `pipelines.inpainting`)
at the app's default settings, and parsed back with `train.evaluate.analyse`:
- single objects, "a {colour} {shape}" for all 24 combinations x 11 seeds: does the biggest object
  have the prompted colour, the prompted shape?
- positions, "a {colour} {shape} on the {left, right, top, bottom}": is the biggest object's centre
  at least POSITION_OFFSET px off the middle on the prompted side?
- two objects, "a {colour} {shape} and a {colour} {shape}" with two colours and two shapes: is each
  colour drawn as its own shape (binding), and are both colours there at all?
- inpainting: in held-out two-object scenes, one object is masked (its box plus a margin) and the
  prompt asks for another colour and shape there: is that what the masked region holds, and is
  everything outside the mask unchanged?
About 8 minutes on 2 CPU cores for both columns (guidance 5 and 1) of the text-to-image table.
"""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
from PIL import Image

from train.judge import ParsedObject, analyse
from train.shapes import COLOURS, IMAGE_SIZE, SHAPES, ShapesDataset

SEEDS_PER_PROMPT = 11  # 24 single-object prompts x 11 seeds: 264 images
POSITION_SEEDS = 3  # 96 prompts with a position x 3 seeds: 288 images
POSITIONS = ("left", "right", "top", "bottom")
POSITION_OFFSET = 2.0  # px off the image's middle, on the prompted side, to count as placed there
TWO_OBJECT_PROMPTS = 128  # x 2 seeds: 256 images
INPAINTING_CASES = 64
MASK_MARGIN = 2  # px around the masked object's box
HELD_OUT_SEED = 7  # scenes for inpainting come from ShapesDataset(7); the models trained on seed 0


def biggest(objects: list[ParsedObject]) -> ParsedObject | None:
    return max(objects, key=lambda obj: obj.width, default=None)


def draw(model: str, prompt: str, seeds: int, guidance_scale: float | None) -> np.ndarray:
    """`seeds` images of `prompt` (seeds 0..seeds-1) at the app's defaults, but for the guidance scale if given."""
    from pipelines import text_to_image

    guidance = text_to_image.DEFAULT_GUIDANCE_SCALE if guidance_scale is None else guidance_scale
    chunks = [  # image k has seed k however the seeds are split into the app's batches
        text_to_image.generate(model=model, prompt=prompt, guidance_scale=guidance, seed=start, batch_size=size)
        for start in range(0, seeds, text_to_image.MAX_BATCH_SIZE)
        for size in [min(text_to_image.MAX_BATCH_SIZE, seeds - start)]
    ]
    return np.concatenate([frame.predicted_original for frame in chunks])


def placed(obj: ParsedObject, position: str) -> bool:
    x_offset, y_offset = obj.center[0] - IMAGE_SIZE / 2, obj.center[1] - IMAGE_SIZE / 2
    offset = {"left": -x_offset, "right": x_offset, "top": -y_offset, "bottom": y_offset}[position]
    return offset >= POSITION_OFFSET


def prompt_following(model: str, guidance_scale: float | None = None) -> dict[str, float]:
    """The fractions of images that show what their prompt asked for (see the module's docstring)."""
    rng = random.Random(0)
    colour_right = shape_right = singles = 0
    for colour, shape in itertools.product(COLOURS, SHAPES):
        for image in draw(model, f"a {colour} {shape}", SEEDS_PER_PROMPT, guidance_scale):
            obj = biggest(analyse(image).objects)
            colour_right += obj is not None and obj.colour == colour
            shape_right += obj is not None and obj.shape == shape
            singles += 1
    position_right = positioned = 0
    for colour, shape, position in itertools.product(COLOURS, SHAPES, POSITIONS):
        for image in draw(model, f"a {colour} {shape} on the {position}", POSITION_SEEDS, guidance_scale):
            obj = biggest(analyse(image).objects)
            position_right += obj is not None and placed(obj, position)
            positioned += 1
    bound = both_colours = pairs = 0
    for _ in range(TWO_OBJECT_PROMPTS):
        (colour_a, colour_b), (shape_a, shape_b) = rng.sample(tuple(COLOURS), 2), rng.sample(SHAPES, 2)
        for image in draw(model, f"a {colour_a} {shape_a} and a {colour_b} {shape_b}", 2, guidance_scale):
            drawn = {(obj.colour, obj.shape) for obj in analyse(image).objects}
            bound += {(colour_a, shape_a), (colour_b, shape_b)} <= drawn
            both_colours += {colour_a, colour_b} <= {colour for colour, _ in drawn}
            pairs += 1
    return {
        "colour": colour_right / singles,
        "shape": shape_right / singles,
        "position": position_right / positioned,
        "two objects: both colours": both_colours / pairs,
        "two objects: each colour its shape": bound / pairs,
        "images": singles + positioned + pairs,
    }


def inpainting_cases(count: int) -> list[tuple[np.ndarray, tuple[int, int, int, int], str, str, str]]:
    """Held-out two-object scenes: (image, mask box, prompt, colour asked, shape asked)."""
    dataset, rng, cases, index = ShapesDataset(HELD_OUT_SEED), random.Random(1), [], 0
    while len(cases) < count:
        image, _, objects = dataset[index]
        index += 1
        if len(objects) != 2:
            continue
        masked, kept = objects
        half = masked.width / 2 + MASK_MARGIN
        box = tuple(
            int(np.clip(round(value), 0, IMAGE_SIZE))
            for value in (
                masked.center_x - half,
                masked.center_y - half,
                masked.center_x + half,
                masked.center_y + half,
            )
        )
        colour = rng.choice([name for name in COLOURS if name not in (masked.colour, kept.colour)])
        shape = rng.choice([name for name in SHAPES if name != masked.shape])
        cases.append((image, box, f"a {colour} {shape}", colour, shape))
    return cases


def inpainting_quality(model: str, zoom: bool = True) -> dict[str, float]:
    """How often the masked object is repainted as the prompted colour and shape; change outside the mask."""
    from pipelines import inpainting

    right_colour = right_both = 0
    outside_change = []
    cases = inpainting_cases(INPAINTING_CASES)
    for image, box, prompt, colour, shape in cases:
        layer = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4), np.uint8)
        layer[box[1] : box[3], box[0] : box[2], 3] = 255  # a stroke over the object, as the editor sends it
        size, multiple = inpainting.model_size(model)
        source, mask, _ = inpainting.prepare(Image.fromarray(image), [Image.fromarray(layer, "RGBA")], size, multiple)
        frame = inpainting.generate(model=model, image=source, mask=mask, prompt=prompt, seed=0, zoom=zoom)
        result = frame.predicted_original[0]
        inside = np.asarray(mask) > 0
        repainted = [obj for obj in analyse(result).objects if inside[int(obj.center[1]), int(obj.center[0])]]
        obj = biggest(repainted)
        right_colour += obj is not None and obj.colour == colour
        right_both += obj is not None and obj.colour == colour and obj.shape == shape
        outside_change.append(np.abs(result[~inside].astype(float) - image[~inside]).mean())
    return {
        "prompted colour in the mask": right_colour / len(cases),
        "prompted colour and shape in the mask": right_both / len(cases),
        "mean absolute change outside the mask (of 255)": float(np.mean(outside_change)),
        "cases": len(cases),
    }


def text_to_image_report(model: str) -> str:
    """A markdown table of prompt following at the app's default guidance and at guidance 1 (none)."""
    from pipelines import text_to_image

    started = time.perf_counter()
    default = prompt_following(model)
    unguided = prompt_following(model, guidance_scale=1.0)
    defaults = f"{text_to_image.DEFAULT_STEPS} steps of {text_to_image.DEFAULT_SCHEDULER}"
    header = f"| figure | guidance {text_to_image.DEFAULT_GUIDANCE_SCALE:g} (default: {defaults}) | guidance 1 (none) |"
    rows = [header, "| --- | --- | --- |"]
    for name in default:
        if name == "images":
            rows.append(f"| images | {default[name]} | {unguided[name]} |")
        else:
            rows.append(f"| {name} | {default[name]:.1%} | {unguided[name]:.1%} |")
    rows.append(f"\n{time.perf_counter() - started:.0f} s on {model}")
    return "\n".join(rows)


def inpainting_report(model: str) -> str:
    """A markdown table: the app's default (zoomed into the mask) and the whole image diffused."""
    started = time.perf_counter()
    zoomed, whole = inpainting_quality(model, zoom=True), inpainting_quality(model, zoom=False)
    rows = ["| figure | zoomed into the mask (default) | whole image |", "| --- | --- | --- |"]
    for name in zoomed:
        if "in the mask" in name:
            rows.append(f"| {name} | {zoomed[name]:.1%} | {whole[name]:.1%} |")
        elif isinstance(zoomed[name], float):
            rows.append(f"| {name} | {zoomed[name]:.2f} | {whole[name]:.2f} |")
        else:
            rows.append(f"| {name} | {zoomed[name]} | {whole[name]} |")
    rows.append(f"\n{time.perf_counter() - started:.0f} s on {model}")
    return "\n".join(rows)
