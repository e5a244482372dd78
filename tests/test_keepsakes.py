"""pipelines/keepsakes/files.py: a run's PNG with its settings, animation and contact sheet, in a folder of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.engine.frames import Frame, image_grid
from pipelines.keepsakes import files as keepsakes
from pipelines.keepsakes.a1111_text import parse_parameters
from pipelines.keepsakes.png_info import read_parameters, settings_for_tab

SETTINGS = {"model": "shapes-ddpm", "scheduler": "DDIM", "steps": 5, "seed": 11, "batch_size": 4}


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(keepsakes, "KEEPSAKES_DIR", tmp_path / "keepsakes")
    return tmp_path / "keepsakes"


def frames(steps: int = 5) -> list[Frame]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (steps, 2, 4, 32, 32, 3), dtype=np.uint8)
    return [Frame(step, steps, 50 - step, 0.1 * step, *images[step - 1]) for step in range(1, steps + 1)]


def test_a_finished_run_leaves_its_png_with_settings_animation_and_sheet() -> None:
    run = frames()
    result = image_grid(run[-1].predicted_original, scale=2)
    files = keepsakes.keepsakes("unconditional", SETTINGS, run, result)
    assert files.png.name == "unconditional-seed11.png" and files.animation.suffix == ".webp"
    np.testing.assert_array_equal(np.asarray(Image.open(files.png)), result)
    text = read_parameters(files.png)
    assert text == (
        "Steps: 5, Sampler: DDIM, Seed: 11, Size: 32x32, Model: shapes-ddpm, Task: unconditional, Batch size: 4, "
        'Seeds: "11, 12, 13, 14"'
    )
    assert settings_for_tab(parse_parameters(text))[1] == {**SETTINGS, "random_seed": False}
    with Image.open(files.animation) as animated:
        assert animated.n_frames == 5
    assert Image.open(files.sheet).format == "PNG"


def test_a_folder_removed_meanwhile_by_another_run_is_passed_over(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs ending at once each prune the old folders: one may be gone between being listed and being looked at."""
    old = keepsakes.run_folder()
    hour_ago = time.time() - keepsakes.KEEP_SECONDS - 1
    os.utime(old, (hour_ago, hour_ago))
    listed = list(folder.iterdir())
    monkeypatch.setattr(Path, "iterdir", lambda self: iter([folder / "removed-meanwhile", *listed]))
    new = keepsakes.run_folder()
    assert new.exists() and not old.exists()


def test_a_stopped_run_has_no_png_but_its_animation() -> None:
    files = keepsakes.keepsakes("unconditional", SETTINGS, frames()[:3], None)
    assert files.png is None and files.animation.exists() and files.sheet.exists()


def test_each_run_has_its_own_folder_and_old_ones_go(folder: Path) -> None:
    first = keepsakes.keepsakes("unconditional", SETTINGS, frames(), None).animation.parent
    second = keepsakes.keepsakes("unconditional", SETTINGS, frames(), None).animation.parent
    assert first != second and first.exists()
    hour_ago = time.time() - keepsakes.KEEP_SECONDS - 1
    os.utime(first, (hour_ago, hour_ago))
    keepsakes.keepsakes("unconditional", SETTINGS, frames(), None)
    assert not first.exists() and second.exists()
