"""Do the word maps (pipelines/engine/word_maps.py) point where the words were drawn? Judged by the shapes judge.

    python -m train.evaluate_word_maps                 # 96 images, 240 s on 2 busy CPU cores; a markdown table
    python -m train.evaluate_word_maps --seeds 2       # quicker, fewer images

Images are drawn through the app's own code (`pipelines.text_to_image.generate_steps` with word maps, the app's
default settings) and parsed back with `train.judge.analyse`; each word's map is its cross-attention summed over all
steps (as DAAM sums it), upsampled to the image (bilinear), and its peak is where it looks most:
- two objects, "a {colour} {shape} on the left and a {colour} {shape} on the right" (and top / bottom), two colours
  and two shapes: among the images where the judge finds exactly those two colours, does each colour word's map peak
  nearer its own object's centre than the other's? and inside its own object's box? The same for each shape word,
  among the images where both shapes are drawn as asked.
- one object, "a {colour} {shape} on the {left, right, top, bottom}": does the position word's map lean to that side
  (its centre of mass past the image's middle on that side)? and, as a reference, does the colour word's map lean
  toward the object (nearer it than its mirror image)?
Chance is 50 % for every "nearer"/"lean" figure (two objects or two sides); "inside the box" has no such baseline.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

import numpy as np

from train.judge import ParsedObject, analyse
from train.shapes import COLOURS, IMAGE_SIZE, SHAPES

TWO_OBJECT_PROMPTS = 8
POSITION_PROMPTS = 4
SEEDS = 8  # images per prompt, drawn as one batch (the app's largest)
OPPOSITES = (("left", "right"), ("top", "bottom"))
SIDES = {"left": (0, -1), "right": (0, 1), "top": (1, -1), "bottom": (1, 1)}  # axis (0: x, 1: y), sign


def draw_with_maps(model: str, prompt: str, seeds: int) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """`seeds` images of `prompt` at the app's defaults, its words, and each word's map summed over the steps."""
    from collections import deque

    from pipelines import text_to_image

    frame = deque(text_to_image.generate_steps(model, prompt, batch_size=seeds, with_word_maps=True), maxlen=1)[0]
    return frame.predicted_original, frame.words, frame.summed_maps


def distance(point: tuple[float, float], obj: ParsedObject) -> float:
    return float(np.hypot(point[0] - obj.center[0], point[1] - obj.center[1]))


def inside(point: tuple[int, int], obj: ParsedObject) -> bool:
    x0, y0, x1, y1 = obj.bbox
    return x0 <= point[0] < x1 and y0 <= point[1] < y1


def centre_of_mass(word_map: np.ndarray) -> tuple[float, float]:
    """(x, y) in image pixels of a map upsampled to the image."""
    from pipelines.engine.word_maps import upsampled

    resized = upsampled(word_map, (IMAGE_SIZE, IMAGE_SIZE))
    weights = resized / resized.sum()
    ys, xs = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE] + 0.5
    return float((weights * xs).sum()), float((weights * ys).sum())


def two_object_prompts(count: int, rng: random.Random) -> list[tuple[str, list[tuple[str, str]]]]:
    """(prompt, [(colour, shape) of the first-named object, of the second]) with two colours and two shapes."""
    prompts = []
    for _ in range(count):
        colours, shapes = rng.sample(list(COLOURS), 2), rng.sample(list(SHAPES), 2)
        first, second = rng.choice(OPPOSITES)
        prompt = f"a {colours[0]} {shapes[0]} on the {first} and a {colours[1]} {shapes[1]} on the {second}"
        prompts.append((prompt, list(zip(colours, shapes))))
    return prompts


def two_objects(model: str, prompts: int, seeds: int, rng: random.Random) -> dict[str, float]:
    from pipelines.engine.word_maps import peak

    counts = dict.fromkeys(("images", "colours found", "colour nearer", "colour inside", "shapes found"), 0)
    counts.update({"shape nearer": 0, "shape inside": 0})
    for prompt, asked in two_object_prompts(prompts, rng):
        images, words, maps = draw_with_maps(model, prompt, seeds)
        for image, image_maps in zip(images, maps):
            counts["images"] += 1
            objects = analyse(image).objects
            by_colour = {obj.colour: obj for obj in objects}
            if len(objects) != 2 or set(by_colour) != {colour for colour, _ in asked}:
                continue  # the picture is not the two asked colours: no object to point at
            counts["colours found"] += 1
            shapes_drawn = [by_colour[colour].shape == shape for colour, shape in asked]
            counts["shapes found"] += all(shapes_drawn)
            for index, (colour, shape) in enumerate(asked):
                own, other = by_colour[colour], by_colour[asked[1 - index][0]]
                for kind, word in (("colour", colour), ("shape", shape)):
                    if kind == "shape" and not all(shapes_drawn):
                        continue
                    where = peak(image_maps[words.index(word)], (IMAGE_SIZE, IMAGE_SIZE))
                    counts[f"{kind} nearer"] += distance(where, own) < distance(where, other)
                    counts[f"{kind} inside"] += inside(where, own)
    words_judged = {"colour": 2 * counts["colours found"], "shape": 2 * counts["shapes found"]}
    return {
        "two-object images": counts["images"],
        "drawn with both colours": counts["colours found"],
        "colour words: peak nearer their object": counts["colour nearer"] / max(words_judged["colour"], 1),
        "colour words: peak inside their object's box": counts["colour inside"] / max(words_judged["colour"], 1),
        "drawn with both shapes too": counts["shapes found"],
        "shape words: peak nearer their object": counts["shape nearer"] / max(words_judged["shape"], 1),
        "shape words: peak inside their object's box": counts["shape inside"] / max(words_judged["shape"], 1),
    }


def positions(model: str, prompts: int, seeds: int, rng: random.Random) -> dict[str, float]:
    counts = {"images": 0, "placed": 0, "position leans": 0, "colour leans": 0}
    cases = list(itertools.product(COLOURS, SHAPES, SIDES))
    for colour, shape, side in rng.sample(cases, prompts):
        images, words, maps = draw_with_maps(model, f"a {colour} {shape} on the {side}", seeds)
        axis, sign = SIDES[side]
        for image, image_maps in zip(images, maps):
            counts["images"] += 1
            position_mass = centre_of_mass(image_maps[words.index(side)])
            counts["position leans"] += sign * (position_mass[axis] - IMAGE_SIZE / 2) > 0
            objects = analyse(image).objects
            if len(objects) != 1:
                continue
            counts["placed"] += 1
            obj = objects[0]
            colour_mass = centre_of_mass(image_maps[words.index(colour)])
            mirrored = list(obj.center)
            mirrored[axis] = IMAGE_SIZE - mirrored[axis]
            nearer = np.hypot(*np.subtract(colour_mass, obj.center)) < np.hypot(*np.subtract(colour_mass, mirrored))
            counts["colour leans"] += bool(nearer)
    return {
        "one-object images": counts["images"],
        "position words: map leans to the named side": counts["position leans"] / max(counts["images"], 1),
        "drawn as one object": counts["placed"],
        "colour words: map leans toward the object": counts["colour leans"] / max(counts["placed"], 1),
    }


def report(model: str, two_object_count: int, position_count: int, seeds: int) -> str:
    rng = random.Random(0)
    started = time.perf_counter()
    figures = {**two_objects(model, two_object_count, seeds, rng), **positions(model, position_count, seeds, rng)}
    lines = [f"| Word maps of {model} (summed over the steps) | |", "|---|---|"]
    for name, value in figures.items():
        lines.append(f"| {name} | {value:.0%} |" if isinstance(value, float) else f"| {name} | {value} |")
    command = f"python -m train.evaluate_word_maps --two-object-prompts {two_object_count} "
    command += f"--position-prompts {position_count} --seeds {seeds}"
    lines.append(f"\n{time.perf_counter() - started:.0f} s: `{command}`")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shapes-sd")
    parser.add_argument("--two-object-prompts", type=int, default=TWO_OBJECT_PROMPTS)
    parser.add_argument("--position-prompts", type=int, default=POSITION_PROMPTS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    arguments = parser.parse_args()
    print(report(arguments.model, arguments.two_object_prompts, arguments.position_prompts, arguments.seeds))


if __name__ == "__main__":
    main()
