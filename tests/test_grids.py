"""pipelines/grids.py on tiny random models: cells ordered and labelled, each the single run of its settings,
caps and parse errors."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import grids, text_to_image, unconditional


def run_to_end(steps) -> list[grids.GridStep]:
    return list(steps)


def test_guidance_sweep_cells_are_the_single_runs_of_their_scales(tiny_sd: str) -> None:
    prompt, seed = "a red circle", 7
    progress = run_to_end(grids.guidance_sweep_steps(tiny_sd, prompt, seed, "1, 2.5, 8", scheduler="DDIM", steps=4))
    last = progress[-1]
    assert last.is_last and last.labels == ("no guidance", "guidance 2.5", "guidance 8")
    assert len(progress) == 3 * 4  # a GridStep per step of each cell
    assert [step.cell for step in progress] == [0] * 4 + [1] * 4 + [2] * 4  # cell by cell, in order
    assert [len(step.images) for step in progress[3::4]] == [1, 2, 3]  # each cell finished at its last step
    assert len(last.seconds) == 3 and all(seconds > 0 for seconds in last.seconds)
    for scale, image in zip((1.0, 2.5, 8.0), last.images):
        single = text_to_image.generate(
            model=tiny_sd, prompt=prompt, guidance_scale=scale, scheduler="DDIM", steps=4, seed=seed
        )
        np.testing.assert_array_equal(image, single.predicted_original[0])  # bit for bit
    assert not np.array_equal(last.images[0], last.images[2])  # guidance changes the picture


def test_sampler_comparison_cells_are_the_single_runs_of_their_samplers(tiny_ddpm: str) -> None:
    pairs = [("DDPM", 20), ("DDIM", 5), ("Euler ancestral", 5)]
    last = run_to_end(
        grids.sampler_comparison_steps("Unconditional", tiny_ddpm, "", 3, "DDPM 20, ddim 5, Euler ancestral 5")
    )[-1]
    assert last.labels == ("DDPM\n20 steps", "DDIM\n5 steps", "Euler ancestral\n5 steps")
    for (scheduler, steps), image in zip(pairs, last.images):
        single = unconditional.generate(model=tiny_ddpm, scheduler=scheduler, steps=steps, seed=3)
        np.testing.assert_array_equal(image, single.predicted_original[0])


def test_sampler_comparison_of_text_to_image_runs_at_the_default_guidance(tiny_sd: str) -> None:
    last = run_to_end(grids.sampler_comparison_steps("Text to image", tiny_sd, "a blue square", 2, "DDIM 3, Euler 3"))[
        -1
    ]
    for scheduler, image in zip(("DDIM", "Euler"), last.images):
        single = text_to_image.generate(model=tiny_sd, prompt="a blue square", scheduler=scheduler, steps=3, seed=2)
        np.testing.assert_array_equal(image, single.predicted_original[0])


def test_parsing_the_lists() -> None:
    assert grids.parse_scales(grids.DEFAULT_SCALES) == [1, 2, 4, 8, 16]
    assert grids.parse_scales("1;1.5\n20") == [1, 1.5, 20]
    assert grids.parse_samplers(grids.DEFAULT_SAMPLERS["Unconditional"]) == [
        ("DDPM", 1000),
        ("DDIM", 10),
        ("DDIM", 50),
        ("DPM-Solver++", 10),
        ("DPM-Solver++", 25),
        ("Euler ancestral", 25),
    ]
    assert grids.parse_samplers(" dpm-solver++   sde 12 ,EULER 3") == [("DPM-Solver++ SDE", 12), ("Euler", 3)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "at least one of the guidance scales"),
        (" , ,", "at least one"),
        ("1, two, 4", "“two” is not a guidance scale: give numbers from 1 \\(no guidance\\) to 20"),
        ("0.5", "“0.5” is not a guidance scale"),
        ("nan", "“nan” is not a guidance scale"),
        ("25", "to 20"),
        (", ".join(["2"] * 9), "at most 8 cells; got 9"),
        (4, "must be text"),
    ],
)
def test_bad_scales_say_what_is_allowed(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grids.parse_scales(text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("Magic 10", "Unknown sampler in “Magic 10”.*DPM-Solver\\+\\+, DPM-Solver\\+\\+ SDE, UniPC.*Heun"),
        ("DDIM", "Unknown sampler in “DDIM”: write a sampler and its steps"),
        ("DDIM ten", "“DDIM ten”: the steps must be a whole number"),
        ("DDIM 2.5", "whole number"),
        ("", "at least one of the samplers"),
        (", ".join(["DDIM 2"] * 9), "at most 8 cells"),
    ],
)
def test_bad_samplers_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grids.parse_samplers(text)


def test_steps_are_capped_per_cell_and_in_all(tiny_ddpm: str, tiny_sd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="DDPM 101: steps must be between 1 and 100"):
        next(grids.sampler_comparison_steps("Unconditional", tiny_ddpm, "", 0, "DDIM 5, DDPM 101"))
    with pytest.raises(ValueError, match="between 1 and"):
        next(grids.guidance_sweep_steps(tiny_sd, "", 0, "1, 2", "DDIM", 0))
    monkeypatch.setattr(grids, "MAX_TOTAL_STEPS", 50)
    with pytest.raises(ValueError, match="asks for 60 steps in all; at most 50"):
        next(grids.sampler_comparison_steps("Unconditional", tiny_ddpm, "", 0, "DDIM 30, DDPM 30"))
    with pytest.raises(ValueError, match="asks for 60 steps in all"):
        next(grids.guidance_sweep_steps(tiny_sd, "", 0, "1, 2, 4", "DDIM", 20))


def test_unknown_models_and_tasks_are_refused(tiny_sd: str) -> None:
    with pytest.raises(ValueError, match="not in this app's catalogue"):
        next(grids.guidance_sweep_steps("no-such/model", "", 0))
    with pytest.raises(ValueError, match="not in this app's catalogue"):
        next(grids.sampler_comparison_steps("Unconditional", tiny_sd, "", 0, "DDIM 2"))  # a model of another task
    with pytest.raises(ValueError, match="task must be one of: Unconditional, Text to image"):
        next(grids.sampler_comparison_steps("Inpainting", tiny_sd, "", 0, "DDIM 2"))


def test_grid_image_lays_out_finished_running_and_pending_cells() -> None:
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    grid = grids.grid_image(["no guidance", "guidance 2", "guidance 4"], [red], [0.5], (blue, "step 1 / 4"))
    cell_width = grid.shape[1] // 3
    assert grid.shape[1] == 3 * cell_width and cell_width >= grids.CELL_SIZE  # one row of three, 8 px enlarged 16x
    image_rows = slice(grids.PADDING, grids.PADDING + grids.CELL_SIZE)
    centre = [cell_width * index + cell_width // 2 for index in range(3)]
    assert tuple(grid[image_rows, centre[0]][0]) == (255, 0, 0)  # the finished cell
    assert tuple(grid[image_rows, centre[1]][0]) == (0, 0, 255)  # the running cell's x̂0
    assert tuple(grid[image_rows, centre[2]][0]) == grids.PENDING  # still to come
    labels = grid[grids.PADDING + grids.CELL_SIZE + 1 :]
    for index in range(3):  # text under every cell: the finished one has a time line, the running one its step
        assert (labels[:, cell_width * index : cell_width * (index + 1)] < 128).any()
    text_rows = [(labels[:, :cell_width] < 128).any(axis=1), (labels[:, 2 * cell_width :] < 128).any(axis=1)]
    assert text_rows[0].nonzero()[0].max() > text_rows[1].nonzero()[0].max()  # label and time vs label only


def test_grids_of_more_than_five_cells_take_two_rows() -> None:
    images = [np.full((8, 8, 3), value, np.uint8) for value in range(6)]
    one_row = grids.grid_image([f"cell {index}" for index in range(5)], images[:5], [0.1] * 5)
    two_rows = grids.grid_image([f"cell {index}" for index in range(6)], images, [0.1] * 6)
    assert two_rows.shape[0] == 2 * one_row.shape[0] and two_rows.shape[1] == 3 * one_row.shape[1] // 5
