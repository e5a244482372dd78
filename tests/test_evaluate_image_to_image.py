"""train/evaluate_image_to_image.py's rounds of SDEdit (`--repeats`, Meng et al.'s Algorithm 1 with K rounds): each
round finishes the last round's results with new seeds; the CLI refuses repeats it cannot run. ~5 s."""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines import image_to_image
from train.evaluate_image_to_image import finished, rough_drawing, runs

ROOT = Path(__file__).resolve().parent.parent


def settings(repeats: int) -> argparse.Namespace:
    return argparse.Namespace(
        model="shapes-ddpm", prompt="", scheduler="DPM-Solver++ SDE", steps=10, seeds=1, repeats=repeats
    )


def test_each_round_finishes_the_last_rounds_results_with_new_seeds() -> None:
    rng = random.Random(0)
    inputs = [image_to_image.prepare(rough_drawing(rng)[0], "shapes-ddpm")[0] for _ in range(3)]
    first, once = finished(settings(1), inputs, 0.5)
    _, twice = finished(settings(2), inputs, 0.5)
    assert first.step == 0 and len(once) == len(twice) == 3
    # round 2 by hand: round 1's results as inputs, seeds after round 1's (3 inputs: seeds 3, 4, 5)
    again = [frames[-1].predicted_original for frames in runs(settings(1), [Image.fromarray(r) for r in once], 0.5, 3)]
    np.testing.assert_array_equal(np.concatenate(again), np.stack(twice))
    assert not np.array_equal(np.stack(once), np.stack(twice))


def test_repeats_with_several_seeds_are_a_usage_error() -> None:
    command = [
        sys.executable,
        "-m",
        "train.evaluate_image_to_image",
        "--drawings",
        "2",
        "--seeds",
        "2",
        "--repeats",
        "2",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # argparse's usage error, before any model is loaded
    assert "--repeats must be at least 1, and more than 1 only with --seeds 1" in result.stderr
