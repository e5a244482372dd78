"""/guidance_sweep and /sampler_comparison through gradio_client on localhost, on the embedded models."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines import grids
from pipelines.keepsakes.png_info import read_parameters


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def sweep(client: Client, **overrides):
    settings = {
        "model": "shapes-sd",
        "prompt": "a large red circle",
        "seed": 3,
        "scales": "1, 4",
        "scheduler": "DDIM",
        "steps": 5,
    }
    settings.update(overrides)
    return client.submit(**settings, api_name="/guidance_sweep")


def comparison(client: Client, **overrides):
    settings = {"task": "Unconditional", "model": "shapes-ddpm", "prompt": "", "seed": 4, "samplers": "DDIM 5, DDPM 20"}
    settings.update(overrides)
    return client.submit(**settings, api_name="/sampler_comparison")


def cell(grid_path: str, index: int, columns: int, image_size: int = 32) -> np.ndarray:
    """Cell `index` of a one-row grid, shrunk back to the model's pixels (the grid enlarges them by nearest)."""
    grid = np.asarray(Image.open(grid_path).convert("RGB"))
    width, scale = grid.shape[1] // columns, grids.CELL_SIZE // image_size
    left = index * width + (width - grids.CELL_SIZE) // 2
    return grid[grids.PADDING : grids.PADDING + grids.CELL_SIZE : scale, left : left + grids.CELL_SIZE : scale]


def result_pixels(path: str, image_size: int = 32) -> np.ndarray:
    result = np.asarray(Image.open(path).convert("RGB"))
    scale = result.shape[0] // image_size
    return result[::scale, ::scale]


def test_guidance_sweep_streams_cell_by_cell_and_each_cell_is_the_text_to_image_run(client: Client) -> None:
    job = sweep(client)
    grid, status = job.result()
    assert status.startswith("Done: 2 cells in") and "5 steps of DDIM, seed 3" in status
    statuses = [outputs[1] for outputs in job.outputs()]
    assert any(text.startswith("Cell 1 of 2 (no guidance)") for text in statuses), statuses
    assert any(text.startswith("Cell 2 of 2 (guidance 4)") for text in statuses), statuses
    for index, scale in enumerate((1.0, 4.0)):
        single = client.predict(
            "shapes-sd", "a large red circle", "", scale, "DDIM", 5, 3, False, 1, api_name="/text_to_image"
        )
        np.testing.assert_array_equal(cell(grid, index, 2), result_pixels(single[2]))


def test_sampler_comparison_cells_are_the_unconditional_runs(client: Client) -> None:
    grid, status = comparison(client).result()
    assert status.startswith("Done: 2 cells in") and "unconditional, seed 4" in status
    for index, (scheduler, steps) in enumerate((("DDIM", 5), ("DDPM", 20))):
        single = client.predict("shapes-ddpm", scheduler, steps, 4, False, 1, api_name="/unconditional")
        np.testing.assert_array_equal(cell(grid, index, 2), result_pixels(single[2]))


def test_sampler_comparison_of_text_to_image(client: Client) -> None:
    grid, status = comparison(client, task="Text to image", model="shapes-sd", prompt="a blue square").result()
    assert status.startswith("Done: 2 cells") and "text to image" in status
    assert np.asarray(Image.open(grid)).shape[1] >= 2 * grids.CELL_SIZE


@pytest.mark.parametrize(
    "run, task, overrides",
    [
        (sweep, "guidance_sweep", {}),
        (comparison, "sampler_comparison", {"task": "Text to image", "model": "shapes-sd", "prompt": "a blue square"}),
    ],
)
def test_a_grid_png_carries_its_settings_and_png_info_gives_them_back_for_the_same_grid(
    client: Client, run, task: str, overrides: dict
) -> None:
    grid, _ = run(client, **overrides).result()
    text = read_parameters(grid)
    assert f"Task: {task}" in text and 'Seeds: "' in text  # each image's seed
    shown, notices, found = client.predict(image=handle_file(grid), api_name="/png_info")
    assert shown == text and notices.startswith("- Restored into Compare (") and found["task"] == task
    assert "Not restored" not in notices and "each cell's time" in notices

    again, _ = client.submit(**found["inputs"], api_name=f"/{task}").result()  # the inputs as the API takes them
    assert read_parameters(again) == text
    for index in range(2):
        np.testing.assert_array_equal(cell(again, index, 2), cell(grid, index, 2))


@pytest.mark.parametrize(
    "run, overrides, message",
    [
        (sweep, {"scales": "1, x"}, "“x” is not a guidance scale"),
        (sweep, {"scales": ", ".join(["2"] * 9)}, "at most 8 cells"),
        (sweep, {"steps": 2.5}, "Steps must be a whole number"),
        (sweep, {"model": "no-such/model"}, "not in this app's catalogue"),
        (comparison, {"samplers": "Magic 5"}, "Unknown sampler in “Magic 5”.*DDIM"),
        (comparison, {"samplers": "DDPM 1000, DDPM 1000, DDIM 10"}, "at most 2000"),
        (comparison, {"task": "Inpainting"}, "task must be one of"),
        (comparison, {"model": "shapes-sd"}, "not in this app's catalogue"),
        (comparison, {"seed": -1}, "Seed"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(
    client: Client, run, overrides: dict, message: str
) -> None:
    with pytest.raises(Exception, match=message):
        run(client, **overrides).result()
    assert comparison(client, samplers="DDIM 2").result()[1].startswith("Done: 1 cells")
