"""The photographs the embedded super-resolution model learns from: scikit-image's and matplotlib's own.

    python -m train.photos --examples assets/examples   # writes the tab's example inputs

`skimage.data` ships a handful of photographs inside the package (the two views of its stereo
pair count as two), and matplotlib's sample data one more (`grace_hopper.jpg`), so they are on
every machine that installs them, with no download.
Training sees random crops of the colour ones and of the greyscale ones (as grey RGB: they still
teach edges and texture), flipped and rotated by multiples of 90 degrees; two colour photographs
are held out for evaluation and never seen in training. The low-resolution input is the crop
shrunk 4x with bicubic filtering, the usual degradation of super-resolution benchmarks.
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

SCALE = 4  # the model's upscaling factor
COLOUR_PHOTOS = (
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "grace_hopper",
    "motorcycle_left",  # added after step 7,500 of the committed model (train/train_residual_super_resolution.py)
    "motorcycle_right",
)
GREY_PHOTOS = ("camera", "coins", "moon", "clock", "brick", "grass", "gravel")
HELD_OUT_PHOTOS = ("astronaut", "coffee")  # evaluation only
MATPLOTLIB_PHOTOS = {"grace_hopper": "grace_hopper.jpg"}  # name -> file of matplotlib's sample data
STEREO_PHOTOS = {"motorcycle_left": 0, "motorcycle_right": 1}  # name -> view of skimage.data.stereo_motorcycle()
COLOUR_SHARE = 0.75  # fraction of training crops cut from the colour photographs


@cache
def load_photo(name: str) -> np.ndarray:
    """A scikit-image (or matplotlib sample data) photograph as (height, width, 3) uint8 RGB."""
    import skimage.data  # training and evaluation only; the app never needs it
    from matplotlib import cbook

    if name in MATPLOTLIB_PHOTOS:
        with cbook.get_sample_data(MATPLOTLIB_PHOTOS[name]) as file:
            return np.asarray(Image.open(file).convert("RGB"))

    if name in STEREO_PHOTOS:
        return skimage.data.stereo_motorcycle()[STEREO_PHOTOS[name]]
    photo = getattr(skimage.data, name)()
    return np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3]


def downsample(image: Image.Image, factor: int = SCALE) -> Image.Image:
    """Bicubic downsampling (Pillow's filter widens with the factor, so it antialiases), sizes rounded down."""
    return image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BICUBIC)


def to_tensor_layout(images: np.ndarray) -> np.ndarray:
    """(batch, height, width, 3) uint8 -> (batch, 3, height, width) float32 in [-1, 1], as the models take them."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1


def random_crops(seed: int, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` augmented training crops of `size` pixels and their 4x-downsampled versions, both uint8 NHWC.

    A deterministic function of `seed`, so that a resumed training run sees the same stream.
    """
    rng = np.random.default_rng(seed)
    high, low = [], []
    for _ in range(count):
        names = COLOUR_PHOTOS if rng.random() < COLOUR_SHARE else GREY_PHOTOS
        photo = load_photo(names[rng.integers(len(names))])
        top = rng.integers(photo.shape[0] - size + 1)
        left = rng.integers(photo.shape[1] - size + 1)
        crop = np.rot90(photo[top : top + size, left : left + size], k=rng.integers(4))
        crop = np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)
        high.append(crop)
        low.append(np.asarray(downsample(Image.fromarray(crop))))
    return np.stack(high), np.stack(low)


def write_examples(directory: Path) -> list[Path]:
    """The tab's example inputs: low-resolution crops of the two held-out photographs and of two training ones."""
    crops = {  # name -> (top, left, size) of the full-resolution crop, shrunk 4x for the example
        "astronaut": (0, 64, 384),
        "coffee": (16, 96, 384),
        "chelsea": (0, 96, 256),
        "rocket": (64, 192, 256),
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (top, left, size) in crops.items():
        crop = Image.fromarray(load_photo(name)[top : top + size, left : left + size])
        path = directory / f"photo-{name}.png"
        downsample(crop).save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=Path, required=True, help="folder to write the example inputs to")
    for written in write_examples(parser.parse_args().examples):
        print(written)
