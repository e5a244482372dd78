"""keep.py: a run's last update carries its files; the PNG info box reads a PNG and restores its tab."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from pipelines import grids
from pipelines.engine.frames import Frame
from pipelines.grids import GridStep
from pipelines.keepsakes import files as keepsakes
from pipelines.keepsakes.png_info import parameters_text, png_with_parameters, read_parameters
from tabs import compare, png_info
from ui import keep

SETTINGS = {"model": "shapes-ddpm", "scheduler": "DDIM", "steps": 3, "seed": 5, "batch_size": 1}


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keepsakes, "KEEPSAKES_DIR", tmp_path / "keepsakes")


def frames() -> list[Frame]:
    images = np.random.default_rng(0).integers(0, 256, (3, 2, 1, 32, 32, 3), dtype=np.uint8)
    return [Frame(step, 3, 30 - step, 0.1, *images[step - 1]) for step in (1, 2, 3)]


def test_the_result_becomes_a_png_with_its_settings_beside_the_run_files() -> None:
    result = np.full((64, 64, 3), 7, dtype=np.uint8)
    shown, animation, sheet = keep.kept("unconditional", SETTINGS, frames(), result)
    assert shown.endswith("unconditional-seed5.png") and "Task: unconditional" in read_parameters(shown)
    np.testing.assert_array_equal(np.asarray(Image.open(shown)), result)
    assert Image.open(animation).n_frames == 3 and Image.open(sheet).format == "PNG"

    bicubic = np.zeros((64, 64, 3), dtype=np.uint8)  # super-resolution's before/after pair: the after one is kept
    (before, after), _, _ = keep.kept("super_resolution", {**SETTINGS, "eta": 0.0}, frames(), (bicubic, result))
    assert before is bicubic and "Eta: 0" in read_parameters(after)

    stopped, animation, _ = keep.kept("unconditional", SETTINGS, frames()[:2], None)
    assert stopped is None and Image.open(animation).n_frames == 2


def test_a_compare_grid_is_served_as_a_png_with_its_settings_that_png_info_restores_into_the_compare_tab() -> None:
    images = (np.full((32, 32, 3), 10, dtype=np.uint8), np.full((32, 32, 3), 200, dtype=np.uint8))
    step = GridStep(("DDIM\n10 steps", "DDPM\n20 steps"), images, (0.5, 1.25), frames()[-1])
    settings = {"grid_task": "Unconditional", "model": "shapes-ddpm", "seed": 4, "samplers": "DDIM 10, DDPM 20"}
    path = compare.grid_png("sampler_comparison", settings, step)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), grids.grid_image(step.labels, images, step.seconds))
    assert 'Task: sampler_comparison, Seeds: "4, 4", Grid task: Unconditional' in read_parameters(path)

    text, notices, found = png_info.png_info(path)
    assert notices.startswith("- Restored into Compare (sampler comparison): Grid task, Model, Prompt, Seed, Samplers.")
    assert found["task"] == "sampler_comparison"
    assert found["inputs"] == {
        "task": "Unconditional",
        "model": "shapes-ddpm",
        "prompt": "",
        "seed": 4,
        "samplers": settings["samplers"],
    }
    panel = {name: f"c-{name}" for name in ("task", "model", "prompt", "seed", "samplers")}
    targets, components = png_info.restore_targets({"sampler_comparison": panel})
    assert components == list(panel.values())  # the panel's `task` radio too, under its own name
    restore = png_info.restorer(targets, {"sampler_comparison": "compare"})
    *updates, tabs = restore(found)
    assert [update["value"] for update in updates] == list(found["inputs"].values()) and tabs.selected == "compare"


def test_png_info_reads_the_settings_and_says_what_it_restores(tmp_path: Path) -> None:
    text = parameters_text({"task": "unconditional", **SETTINGS, "size": (32, 32)})
    path = png_with_parameters(np.zeros((8, 8, 3), dtype=np.uint8), text, tmp_path / "run.png")
    shown_text, notices, found = png_info.png_info(str(path))
    assert shown_text == text and notices.startswith("- Restored into Unconditional: Model, Sampler, Steps")
    assert found["task"] == "unconditional" and found["inputs"] == {**SETTINGS, "random_seed": False}

    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert png_info.png_info(str(tmp_path / "plain.png")) == ("", png_info.NO_SETTINGS, None)
    foreign = "a castle\nSteps: 20, Sampler: DDIM, Seed: 1, Model: v1-5-pruned-emaonly"
    png_with_parameters(np.zeros((8, 8, 3), dtype=np.uint8), foreign, tmp_path / "a1111.png")
    _, notices, found = png_info.png_info(str(tmp_path / "a1111.png"))
    assert "Not restored: Model 'v1-5-pruned-emaonly': the Text to image tab has shapes-sd" in notices
    assert "model" not in found["inputs"] and found["inputs"]["prompt"] == "a castle"


def test_restore_fills_only_the_tab_of_the_png_and_selects_it() -> None:
    tab_inputs = {
        "unconditional": {"model": "u-model", "steps": "u-steps", "random_seed": "u-random", "other": "u-other"},
        "text_to_image": {"prompt": "t-prompt", "steps": "t-steps", "random_seed": "t-random"},
    }
    targets, components = png_info.restore_targets(tab_inputs)
    assert components == ["u-model", "u-steps", "u-random", "t-prompt", "t-steps", "t-random"]  # not "other"
    restore = png_info.restorer(targets, {"unconditional": "unconditional", "text_to_image": "text-to-image"})
    found = {"task": "text_to_image", "inputs": {"prompt": "a red circle", "random_seed": False}, "notices": ["Done."]}
    *updates, tabs = restore(found)
    assert updates[:3] == [gr.skip()] * 3 and updates[4] == gr.skip()
    assert updates[3]["value"] == "a red circle" and updates[5]["value"] is False
    assert tabs.selected == "text-to-image"
    with pytest.raises(gr.Error, match="Upload a PNG"):
        restore(None)
