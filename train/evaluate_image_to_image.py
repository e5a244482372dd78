"""How image to image (SDEdit) finishes rough drawings: does the result keep the drawn colours where they were drawn,
and is it a clean shapes-world picture? At every strength, the trade-off curve (SDEdit's Fig. 3 in spirit).

    python -m train.evaluate_image_to_image                      # shapes-ddpm, 40 drawings: ~6 min on 2 busy cores
    python -m train.evaluate_image_to_image --drawings 48 --seeds 4 --plot docs/image-to-image-strength.png
    python -m train.evaluate_image_to_image --drawings 80 --strengths 0.3 0.4 --repeats 5  # SDEdit's K rounds

The drawings imitate a hand on the app's sketchpad (128 px, black, the palette's colours): one or two blobs, each
scribbled in with a thick brush as back-and-forth strokes whose points wobble, over an outline that wobbles too,
with the wrong proportions (stretched 0.55-1.8 times in one direction, turned at random), at random places, two
blobs never of one colour. They are made smaller to the model's 32 px as the app does (`image_to_image.prepare`).

Each result is judged by `train.judge.analyse` (the shapes judge):
- *kept*: every drawn colour is an object of that colour in the result, its centre within `KEPT_DISTANCE` px of the
  drawn blob's centre (per blob, too);
- *clean*: the judge's clean (one or two objects of a flat palette colour and a recognisable shape on black);
- *both*: kept and clean: the drawing finished as the child meant it;
- *not clean, why*: the judge's reasons for the results that are not clean, counted (`size`: an object of neither
  of the world's two sizes).
Strength 0 is the drawing itself (the input returned).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pipelines import image_to_image
from pipelines.engine.frames import Frame, LatentFrame
from pipelines.unconditional import MAX_BATCH_SIZE
from train.judge import analyse
from train.shapes import COLOURS, IMAGE_SIZE

CANVAS = 128  # the sketchpad's size
STRENGTHS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
KEPT_DISTANCE = 6.0  # px of the 32-px result between a drawn blob's centre and the object's: within its own width


@dataclass(frozen=True)
class Blob:
    colour: str
    center: tuple[float, float]  # in the model's pixels (32 px)
    radius: float  # in the sketchpad's pixels


def wobbly_blob(draw: ImageDraw.ImageDraw, rng: random.Random, colour: str, center: tuple[float, float], radius: float):
    """One blob scribbled in: a wobbly outline filled, then back-and-forth strokes across it, jittered, stretched."""
    stretch, angle = rng.uniform(0.55, 1.8), rng.uniform(0, math.pi)
    radii = (radius, radius * stretch)

    def point(u: float, v: float) -> tuple[float, float]:  # (u, v) in the blob's own frame, turned by `angle`
        x, y = u * radii[0], v * radii[1]
        return (
            center[0] + x * math.cos(angle) - y * math.sin(angle) + rng.gauss(0, radius * 0.06),
            center[1] + x * math.sin(angle) + y * math.cos(angle) + rng.gauss(0, radius * 0.06),
        )

    phases = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
    outline = []
    for index in range(36):
        theta = 2 * math.pi * index / 36
        wobble = 1 + 0.12 * sum(math.sin((k + 2) * theta + phase) for k, phase in enumerate(phases)) / 3
        outline.append(point(wobble * math.cos(theta) * 0.8, wobble * math.sin(theta) * 0.8))
    fill = COLOURS[colour]
    draw.polygon(outline, fill=fill)
    strokes = rng.randint(4, 7)
    zigzag = []
    for index in range(strokes + 1):
        v = -0.9 + 1.8 * index / strokes
        half = math.sqrt(max(0.0, 1 - v * v))
        zigzag.append(point(-half * (-1) ** index, v))
    draw.line(zigzag, fill=fill, width=max(2, round(radius * rng.uniform(0.35, 0.6))), joint="curve")


def rough_drawing(rng: random.Random) -> tuple[Image.Image, list[Blob]]:
    """A 128-px drawing of one or two blobs of different palette colours, and where each was drawn (in 32 px)."""
    image = Image.new("RGB", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(image)
    colours = rng.sample(tuple(COLOURS), rng.choice((1, 2)))
    blobs, scale = [], CANVAS / IMAGE_SIZE
    for colour in colours:
        for _ in range(100):  # a place clear of the other blob
            radius = rng.uniform(0.12, 0.3) * CANVAS
            center = (rng.uniform(radius, CANVAS - radius), rng.uniform(radius, CANVAS - radius))
            if all(math.dist(center, [c * scale for c in blob.center]) > radius + blob.radius + 8 for blob in blobs):
                break
        wobbly_blob(draw, rng, colour, center, radius)
        blobs.append(Blob(colour, (center[0] / scale, center[1] / scale), radius))
    return image, blobs


def judged(image: np.ndarray, blobs: list[Blob]) -> tuple[int, str]:
    """How many drawn blobs the result keeps (colour, near the drawn place), and why it is not clean ("" if clean:
    else the judge's category, such as "size")."""
    analysis = analyse(image)
    kept = sum(
        any(
            obj.colour == blob.colour and math.dist(obj.center, blob.center) <= KEPT_DISTANCE
            for obj in analysis.objects
        )
        for blob in blobs
    )
    return kept, analysis.reason.split(":")[0]


def runs(args: argparse.Namespace, inputs: list[Image.Image], strength: float, first_seed: int = 0) -> Iterator[list]:
    """The frames of every run: `args.seeds` results of each input in order, seeds first_seed, first_seed + 1, ... A
    pixel model's inputs go in batches of up to `MAX_BATCH_SIZE` results (4x the images a second of one at a time, on
    2 cores)."""
    settings = {"strength": strength, "scheduler": args.scheduler, "steps": args.steps}
    if strength == 0 or not image_to_image.is_pixel_model(args.model):  # strength 0: the inputs, no model call
        for index, image in enumerate(inputs):
            frames = image_to_image.generate_steps(
                args.model, image, args.prompt, batch_size=args.seeds, seed=first_seed + index * args.seeds, **settings
            )
            yield list(frames)
        return
    per_batch = max(1, MAX_BATCH_SIZE // args.seeds)
    for index in range(0, len(inputs), per_batch):
        images = inputs[index : index + per_batch]
        yield list(
            image_to_image.pixel_frames(
                args.model, images, seed=first_seed + index * args.seeds, batch_size=args.seeds, **settings
            )
        )


def finished(
    args: argparse.Namespace, inputs: list[Image.Image], strength: float
) -> tuple[Frame | LatentFrame, list[np.ndarray]]:
    """The first frame of the first round and the results: `args.repeats` rounds of SDEdit, each round's results the
    next round's inputs with new noise (Meng et al.'s Algorithm 1 with K = `args.repeats`)."""
    first = None
    for repeat in range(args.repeats):
        results = []
        for frames in runs(args, inputs, strength, first_seed=repeat * len(inputs) * args.seeds):
            first = first or frames[0]
            results.extend(frames[-1].predicted_original)
        inputs = [Image.fromarray(result) for result in results]
    return first, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=image_to_image.DEFAULT_MODEL)
    parser.add_argument("--prompt", default="", help="for a text model")
    parser.add_argument("--scheduler", default=image_to_image.DEFAULT_SCHEDULER)
    parser.add_argument("--steps", type=int, default=image_to_image.DEFAULT_STEPS)
    parser.add_argument("--drawings", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=1, help="results per drawing")
    parser.add_argument("--strengths", type=float, nargs="+", default=STRENGTHS)
    parser.add_argument(
        "--repeats", type=int, default=1, help="SDEdit rounds, each finishing the last one's result (with --seeds 1)"
    )
    parser.add_argument("--plot", help="save the curve as a PNG here")
    args = parser.parse_args()
    if args.repeats < 1 or (args.repeats > 1 and args.seeds != 1):
        parser.error("--repeats must be at least 1, and more than 1 only with --seeds 1")
    started = time.perf_counter()
    rng = random.Random(0)
    drawings = [rough_drawing(rng) for _ in range(args.drawings)]
    inputs = [image_to_image.prepare(image, args.model)[0] for image, _ in drawings]
    blob_count = sum(len(blobs) for _, blobs in drawings)
    print(
        f"{args.model}, {args.scheduler}, {args.steps} steps: {args.drawings} drawings ({blob_count} blobs) x "
        f"{args.seeds} seeds, {args.repeats} round(s) of SDEdit\n"
    )
    print(
        "| strength | starts at t | steps run | kept (every colour) | kept (per blob) | clean | kept and clean "
        "| not clean, why |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    curve = []
    for strength in args.strengths:
        kept_all = kept_blobs = clean = both = 0
        why_not = Counter()
        first, results = finished(args, inputs, strength)
        for result, (_, blobs) in zip(
            results, [drawing for drawing in drawings for _ in range(args.seeds)], strict=True
        ):
            kept, reason = judged(result, blobs)
            is_clean = not reason
            why_not[reason] += not is_clean
            kept_blobs += kept
            kept_all += kept == len(blobs)
            clean += is_clean
            both += is_clean and kept == len(blobs)
        count = args.drawings * args.seeds
        row = (
            100 * kept_all / count,
            100 * kept_blobs / (blob_count * args.seeds),
            100 * clean / count,
            100 * both / count,
        )
        curve.append((strength, *row))
        print(
            f"| {strength:g} | {first.timestep} | {first.total_steps} of {args.steps} | "
            + " | ".join(f"{figure:.0f} %" for figure in row)
            + f" | {', '.join(f'{name} {count}' for name, count in why_not.most_common() if count) or '-'} |",
            flush=True,
        )
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.plot:
        save_plot(curve, args.plot, f"{args.model}: {args.drawings} rough drawings x {args.seeds} seeds")


def save_plot(curve: list[tuple[float, ...]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strengths, kept_all, _, clean, both = zip(*curve)
    figure, axes = plt.subplots(figsize=(5.5, 3.5), dpi=110)
    axes.plot(strengths, kept_all, "o-", label="keeps every drawn colour at its place")
    axes.plot(strengths, clean, "s-", label="clean shapes-world picture")
    axes.plot(strengths, both, "^--", label="both")
    axes.set(xlabel="strength", ylabel="% of results", ylim=(-3, 103), title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left")
    figure.tight_layout()
    figure.savefig(path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
