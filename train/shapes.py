"""Shapes world: a deterministic procedural data set of 32x32 flat shapes with captions.

Every image is one or two flat, anti-aliased shapes on black; every caption says what
is drawn in plain English ("a small red circle on the left", "a blue square and a
yellow triangle"), mentioning each attribute only with some probability so that a
model conditioned on it also learns partial prompts. The vocabulary below is fixed:
the embedded models and `train/evaluate.py` rely on it.

    python -m train.shapes --out /tmp/shapes.png   # a 8x8 contact sheet of samples
    python -m train.shapes --examples assets/examples  # the app's example images (inpainting tab)

Item `i` of `ShapesDataset(seed)` is the same on every machine, so a training run
resumed from a checkpoint sees the same data stream.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 32
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (235, 215, 40),
    "green": (40, 180, 60),
    "cyan": (40, 200, 220),
    "blue": (40, 80, 225),
    "purple": (150, 60, 210),
    "white": (240, 240, 240),
}
SHAPES = ("circle", "square", "triangle")
SIZES: dict[str, tuple[int, int]] = {"small": (8, 11), "large": (16, 22)}  # px across
POSITIONS = ("left", "right", "top", "bottom", "center")
# Two objects go on opposite sides so that they never overlap.
OPPOSITE_POSITIONS = (("left", "right"), ("top", "bottom"))
MARGIN = 2  # px between a shape placed at an edge and the border
SUPERSAMPLING = 4  # each pixel is the mean of 4x4 sub-pixel samples: anti-aliased edges


@dataclass(frozen=True)
class ShapeObject:
    """One drawn object: what it is and where its bounding box lies (pixels)."""

    colour: str
    shape: str
    size: str
    position: str
    width: int
    center_x: float
    center_y: float


def _center(position: str, width: int, rng: random.Random) -> tuple[float, float]:
    """Centre of a shape `width` px across placed at `position`, with a little jitter."""
    near = MARGIN + width / 2 + rng.uniform(0, 1.5)
    far = IMAGE_SIZE - near
    middle = IMAGE_SIZE / 2 + rng.uniform(-1.5, 1.5)
    other = IMAGE_SIZE / 2 + rng.uniform(-2.0, 2.0)
    return {
        "left": (near, other),
        "right": (far, other),
        "top": (other, near),
        "bottom": (other, far),
        "center": (middle, IMAGE_SIZE / 2 + rng.uniform(-1.5, 1.5)),
    }[position]


def _coverage(shape: str, width: int, center_x: float, center_y: float) -> np.ndarray:
    """Fraction of each pixel covered by the shape, estimated on a sub-pixel grid."""
    grid = (np.arange(IMAGE_SIZE * SUPERSAMPLING) + 0.5) / SUPERSAMPLING
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    dx, dy, half = xs - center_x, ys - center_y, width / 2
    if shape == "circle":
        inside = dx**2 + dy**2 <= half**2
    elif shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    else:  # upright triangle, point up: the half-width grows linearly from apex to base
        from_apex = (dy + half) / (2 * half)
        inside = (from_apex >= 0) & (from_apex <= 1) & (np.abs(dx) <= half * from_apex)
    blocks = inside.reshape(IMAGE_SIZE, SUPERSAMPLING, IMAGE_SIZE, SUPERSAMPLING)
    return blocks.mean(axis=(1, 3))


def render(objects: list[ShapeObject]) -> np.ndarray:
    """Draw the objects on black; returns a (32, 32, 3) uint8 array."""
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    for obj in objects:
        alpha = _coverage(obj.shape, obj.width, obj.center_x, obj.center_y)[..., None]
        canvas = canvas * (1 - alpha) + np.array(COLOURS[obj.colour], np.float32) * alpha
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _describe(obj: ShapeObject, rng: random.Random, with_position: bool) -> str:
    """'a small red circle on the left', each attribute kept with some probability."""
    words = ["a"]
    if rng.random() < 0.5:
        words.append(obj.size)
    if rng.random() < 0.9:
        words.append(obj.colour)
    words.append(obj.shape if rng.random() < 0.9 else "shape")
    phrase = " ".join(words)
    if with_position and rng.random() < 0.8:
        phrase += " in the center" if obj.position == "center" else f" on the {obj.position}"
    return phrase


def sample_scene(rng: random.Random) -> tuple[list[ShapeObject], str]:
    """A random scene of one or two objects and a caption for it."""
    count = 1 if rng.random() < 0.6 else 2
    positions = [rng.choice(POSITIONS)] if count == 1 else list(rng.choice(OPPOSITE_POSITIONS))
    rng.shuffle(positions)
    while True:  # two large shapes on opposite sides may touch: draw sizes again
        sizes = [rng.choice(tuple(SIZES)) for _ in positions]
        widths = [rng.randint(*SIZES[size]) for size in sizes]
        if sum(widths) + 2 * MARGIN + 5 <= IMAGE_SIZE or count == 1:
            break
    colours = rng.sample(tuple(COLOURS), count)  # two objects never share a colour
    objects = []
    for colour, size, width, position in zip(colours, sizes, widths, positions):
        center_x, center_y = _center(position, width, rng)
        objects.append(ShapeObject(colour, rng.choice(SHAPES), size, position, width, center_x, center_y))
    # Two objects' positions are named in half of their captions: "a red circle on the left and ...".
    with_position = count == 1 or rng.random() < 0.5
    caption = " and ".join(_describe(obj, rng, with_position) for obj in objects)
    return objects, caption


class ShapesDataset:
    """Item `index` is a deterministic function of (seed, index): (image uint8 HWC, caption, objects)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __getitem__(self, index: int) -> tuple[np.ndarray, str, list[ShapeObject]]:
        objects, caption = sample_scene(random.Random(f"{self.seed}-{index}"))
        return render(objects), caption, objects

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str]]:
        """Items start..start+size as a float array in [-1, 1], NCHW, and their captions."""
        items = [self[start + offset] for offset in range(size)]
        images = np.stack([image for image, _, _ in items]).astype(np.float32) / 127.5 - 1
        return images.transpose(0, 3, 1, 2), [caption for _, caption, _ in items]


def write_examples(directory: str, count: int = 4, size: int = 256) -> None:
    """The app's example images: scenes from a seed training never uses, enlarged so that painting a mask is easy."""
    from PIL import Image

    scenes, index = [], 0
    while len(scenes) < count:
        objects, caption = sample_scene(random.Random(f"examples-{index}"))
        index += 1
        if len(objects) == 2 or len(scenes) == count - 1:  # two-object scenes, and one single object last
            scenes.append((objects, caption))
    for number, (objects, caption) in enumerate(scenes, start=1):
        Image.fromarray(render(objects)).resize((size, size), Image.NEAREST).save(f"{directory}/scene-{number}.png")
        print(f"scene-{number}.png: {caption}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="shapes.png", help="where to write the contact sheet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", help="write the app's example scenes to this folder instead")
    args = parser.parse_args()
    if args.examples:
        write_examples(args.examples)
        return
    from PIL import Image

    dataset = ShapesDataset(args.seed)
    tiles = [dataset[index][0] for index in range(64)]
    rows = [np.concatenate(tiles[row * 8 : row * 8 + 8], axis=1) for row in range(8)]
    Image.fromarray(np.concatenate(rows, axis=0)).resize((512, 512), Image.NEAREST).save(args.out)
    for index in range(8):
        print(dataset[index][1])


if __name__ == "__main__":
    main()
