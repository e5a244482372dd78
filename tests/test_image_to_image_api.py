"""The /image_to_image endpoint through gradio_client on localhost: a drawing finished, streamed from its jump to x_t,
its PNG restored by PNG info, bad input answered with messages while the server keeps serving; Compare's
strength sweep (/strength_sweep)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from pipelines import grids
from pipelines.keepsakes.png_info import read_parameters

ENDPOINT = "/image_to_image"
RED = (220, 40, 40)
FILES = itertools.count()


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def red_blob(size: int = 128) -> Image.Image:
    image = Image.new("RGB", (size, size))
    ImageDraw.Draw(image).ellipse((size // 8, size // 4, size // 2, size * 3 // 4), fill=RED)
    return image


def editor_value(tmp_path: Path, image: Image.Image, layer: Image.Image | None = None) -> dict:
    """What the ImageEditor sends, without a composite (as an API caller may): a background and maybe a layer."""
    number = next(FILES)  # a file of its own: uploaded when the call is made, after any other is written
    background, stroke = tmp_path / f"background-{number}.png", tmp_path / f"layer-{number}.png"
    image.save(background)
    value = {"background": handle_file(str(background)), "layers": [], "composite": None}
    if layer is not None:
        layer.save(stroke)
        value["layers"] = [handle_file(str(stroke))]
    return value


def settings(editor: dict | None, **overrides) -> dict:
    defaults = {
        "model": "shapes-ddpm",
        "editor": editor,
        "prompt": "",
        "negative_prompt": "",
        "strength": 0.6,
        "guidance_scale": 5.0,
        "scheduler": "DPM-Solver++",
        "steps": 10,
        "seed": 2,
        "random_seed": False,
    }
    return {**defaults, **overrides}


def call(client: Client, editor: dict | None, **overrides):
    return client.predict(**settings(editor, **overrides), api_name=ENDPOINT)


def test_a_drawing_is_finished_from_its_jump_to_x_t_and_png_info_restores_the_run(client: Client, tmp_path) -> None:
    job = client.submit(**settings(editor_value(tmp_path, red_blob()), steps=20), api_name=ENDPOINT)
    _, _, result, status, _, replay, *_ = job.result()
    statuses = [outputs[3] for outputs in job.outputs()]
    assert status == statuses[-1] and status.startswith("Done in") and "strength 0.6, 12 of 20 steps" in status
    assert replay["maximum"] == 13  # the jump and 12 steps
    shown = np.asarray(Image.open(result).convert("RGB"))
    assert shown.shape == (256, 256, 3)  # 32 px enlarged 8x
    small = shown[::8, ::8].astype(int)
    red = np.abs(small - RED).max(axis=-1) < 60
    assert red[:, :16].sum() > 20 and red[:, 16:].sum() < 5  # the red stays where it was drawn, on the left

    text, notices, found = client.predict(handle_file(result), api_name="/png_info")
    assert "Denoising strength: 0.6" in text and "Task: image_to_image" in text
    assert notices.startswith("- Restored into Image to image:") and "draw or upload it again" in notices
    assert found["task"] == "image_to_image" and found["inputs"]["strength"] == 0.6 and found["inputs"]["seed"] == 2


def test_the_stream_starts_with_the_jump_to_x_t(client: Client, tmp_path) -> None:
    job = client.submit(**settings(editor_value(tmp_path, red_blob()), scheduler="DDPM", steps=100), api_name=ENDPOINT)
    job.result()
    statuses = [outputs[3] for outputs in job.outputs() if outputs[3].startswith("Step")]
    assert statuses and statuses[0].startswith("Step 0 / 60 · t = "), statuses[:3]


def test_strength_0_returns_the_input_and_layers_are_drawn_over_the_background(client: Client, tmp_path) -> None:
    layer = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((80, 80, 120, 120), fill=(40, 80, 225, 255))  # a blue stroke, bottom right
    _, _, result, status, *_ = call(client, editor_value(tmp_path, red_blob(), layer), strength=0)
    assert status.startswith("Done: at strength 0 no step runs")
    shown = np.asarray(Image.open(result).convert("RGB"))[::8, ::8]
    expected = Image.alpha_composite(red_blob().convert("RGBA"), layer).convert("RGB")
    expected = np.asarray(expected.resize((32, 32), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(shown, expected)


def test_a_text_model_finishes_the_drawing_with_a_prompt(client: Client, tmp_path) -> None:
    _, _, result, status, *_ = call(
        client, editor_value(tmp_path, red_blob()), model="shapes-sd", prompt="a red circle", steps=10
    )
    assert status.startswith("Done in") and "6 of 10 steps" in status and "“a red circle”" in status


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"editor": "black"}, "The canvas is empty"),
        ({"editor": None}, "There is no image"),
        ({"strength": 1.5}, "Strength"),
        ({"strength": 0.3, "steps": 2}, "2 steps run none"),
        ({"model": "photo-sr-4x"}, "not in this app's catalogue"),
        ({"model": "shapes-sd", "guidance_scale": 50}, "Guidance scale"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(
    client: Client, tmp_path, overrides: dict, message: str
) -> None:
    drawings = {"black": Image.new("RGB", (128, 128)), "red": red_blob()}
    editor = overrides.get("editor", "red")
    editor = editor_value(tmp_path, drawings[editor]) if editor in drawings else editor
    with pytest.raises(Exception, match=message):
        call(client, **{**overrides, "editor": editor})
    assert call(client, editor_value(tmp_path, red_blob()), steps=4)[3].startswith("Done")


def test_the_strength_sweep_grid_cells_are_the_tabs_single_runs(client: Client, tmp_path) -> None:
    path = tmp_path / "input.png"
    red_blob().save(path)
    settings = {"model": "shapes-ddpm", "prompt": "", "seed": 2, "scheduler": "DPM-Solver++", "steps": 10}
    grid, status = client.predict(
        image=handle_file(str(path)), strengths="0.2, 0.6, 1", **settings, api_name="/strength_sweep"
    )
    assert status.startswith("Done: 3 cells in") and "strengths 0.2, 0.6, 1" in status
    assert "Task: strength_sweep" in read_parameters(grid) and "Strengths:" in read_parameters(grid)
    shown = np.asarray(Image.open(grid).convert("RGB"))
    width, scale = shown.shape[1] // 3, grids.CELL_SIZE // 32
    for index, strength in enumerate((0.2, 0.6, 1.0)):
        left = index * width + (width - grids.CELL_SIZE) // 2
        cell = shown[grids.PADDING : grids.PADDING + grids.CELL_SIZE : scale, left : left + grids.CELL_SIZE : scale]
        single = call(client, editor_value(tmp_path, red_blob()), strength=strength, steps=10)
        np.testing.assert_array_equal(cell, np.asarray(Image.open(single[2]).convert("RGB"))[::8, ::8])
    with pytest.raises(Exception, match="There is no image"):
        client.predict(image=None, strengths="0.2", **settings, api_name="/strength_sweep")
