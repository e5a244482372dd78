"""The analyser of train/evaluate.py: the data itself must parse back to its ground truth, and broken images must not
pass as clean; and the CLI refuses what the app would. ~8 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from train.evaluate import markdown_table
from train.judge import Analysis, analyse, score
from train.shapes import COLOURS, ShapeObject, ShapesDataset, render

DATA_ITEMS = 500
ROOT = Path(__file__).resolve().parent.parent


Item = tuple[np.ndarray, list[ShapeObject], Analysis]


@pytest.fixture(scope="module")
def data() -> list[Item]:
    dataset = ShapesDataset(seed=0)
    return [(image, objects, analyse(image)) for image, _, objects in (dataset[index] for index in range(DATA_ITEMS))]


def test_data_is_clean(data: list[Item]) -> None:
    clean = sum(analysis.clean for _, _, analysis in data)
    assert clean >= 0.99 * DATA_ITEMS, [analysis.reason for _, _, analysis in data if not analysis.clean]
    assert all(len(analysis.objects) == len(objects) for _, objects, analysis in data)


def test_single_objects_match_ground_truth(data: list[Item]) -> None:
    singles = [(analysis, objects[0]) for _, objects, analysis in data if len(objects) == 1]
    parsed = [(analysis.objects[0], truth) for analysis, truth in singles if len(analysis.objects) == 1]
    assert len(parsed) == len(singles)
    accuracy = {
        attribute: np.mean([getattr(found, attribute) == getattr(truth, attribute) for found, truth in parsed])
        for attribute in ("colour", "shape", "size")
    }
    print(f"{len(parsed)} single objects, accuracy: {accuracy}")  # shown with pytest -s
    assert accuracy["colour"] == 1.0
    assert accuracy["shape"] >= 0.97
    assert accuracy["size"] >= 0.97


def test_mild_noise_keeps_data_clean(data: list[Item]) -> None:
    """A good model's samples are not bit-exact: a little noise must not make them unclean."""
    rng = np.random.default_rng(0)
    noisy = [np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8) for image, _, _ in data[:50]]
    assert sum(analyse(image).clean for image in noisy) >= 48


def _reason(image: np.ndarray) -> str:
    analysis = analyse(image)
    assert not analysis.clean
    return analysis.reason


def test_random_noise_is_not_clean() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        _reason(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_blurred_mixture_of_two_colours_is_not_clean() -> None:
    red = render([ShapeObject("red", "circle", "large", "center", 20, 16.0, 16.0)]).astype(np.float32)
    blue = render([ShapeObject("blue", "circle", "large", "center", 20, 16.0, 16.0)]).astype(np.float32)
    mixed = np.concatenate([red[:, :16], blue[:, 16:]], axis=1)
    kernel = np.ones(5) / 5  # smear along x: a gradient from red to blue through the middle
    smeared = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, mixed)
    assert _reason(smeared.round().astype(np.uint8)).split(":")[0] in ("colour", "uniformity", "mixed edge")
    averaged = (red + blue) / 2  # an even mix is no palette colour
    assert _reason(averaged.round().astype(np.uint8)).startswith("colour")


def test_uniform_grey_and_black_are_not_clean() -> None:
    _reason(np.full((32, 32, 3), 128, dtype=np.uint8))
    _reason(np.full((32, 32, 3), 30, dtype=np.uint8))  # a haze under the lit level: the background is not black
    assert _reason(np.zeros((32, 32, 3), dtype=np.uint8)) == "count: 0 objects"


def test_three_objects_are_not_clean() -> None:
    objects = [
        ShapeObject("red", "circle", "small", "left", 8, 6.0, 18.0),
        ShapeObject("green", "square", "small", "right", 8, 26.0, 18.0),
        ShapeObject("blue", "triangle", "small", "top", 8, 16.0, 6.0),
    ]
    assert _reason(render(objects)) == "count: 3 objects"
    assert analyse(render(objects[:2])).clean  # the same scene with two of them is fine


def test_score_covers_the_palette_and_shapes(data: list[Item]) -> None:
    figures = score(np.stack([image for image, _, _ in data[:200]] + [np.zeros((32, 32, 3), np.uint8)]))
    assert figures["samples"] == 201 and figures["clean"] == 200
    assert figures["colour_coverage"] == f"{len(COLOURS)}/{len(COLOURS)}" and figures["shape_coverage"] == "3/3"
    assert figures["not_clean_reasons"] == {"count": 1}
    assert "| clean fraction | 99.5% |" in markdown_table(figures)


def test_batch_over_the_apps_limit_is_a_usage_error() -> None:
    command = [sys.executable, "-m", "train.evaluate", "--samples", "16", "--batch-size", "9"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # argparse's usage error, before any model is loaded
    assert "--batch-size must be between 1 and 8 without --plain; got 9" in result.stderr
    assert "Traceback" not in result.stderr
