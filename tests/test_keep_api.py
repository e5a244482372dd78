"""Through gradio_client: every generation endpoint returns its trajectory animation and contact sheet, its
result PNG carries its settings, and /png_info reads them back into settings that make the same PNG again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines.keepsakes.png_info import PARAMETERS_KEY, read_parameters

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def editor(tmp_path: Path) -> dict:
    """What the ImageEditor sends: an example scene and a brush stroke over its left half."""
    Image.open(EXAMPLES / "scene-1.png").convert("RGB").resize((32, 32), Image.NEAREST).save(tmp_path / "scene.png")
    stroke = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    stroke.paste((255, 255, 255, 255), (0, 0, 16, 32))
    stroke.save(tmp_path / "stroke.png")
    return {
        "background": handle_file(str(tmp_path / "scene.png")),
        "layers": [handle_file(str(tmp_path / "stroke.png"))],
    }


def runs(tmp_path: Path) -> dict[str, tuple[str, dict, dict]]:
    """endpoint -> (task, settings a PNG holds, image inputs it does not)"""
    return {
        "/unconditional": (
            "unconditional",
            {"model": "shapes-ddpm", "scheduler": "DPM-Solver++", "steps": 6, "seed": 5, "batch_size": 2},
            {},
        ),
        "/text_to_image": (
            "text_to_image",
            {
                "model": "shapes-sd",
                "prompt": "a large red circle, on the left: small",  # commas and colons stay in the prompt line
                "negative_prompt": "blue",
                "guidance_scale": 7.5,
                "scheduler": "Euler ancestral",
                "steps": 6,
                "seed": 3,
                "batch_size": 2,
            },
            {},
        ),
        "/inpaint": (
            "inpainting",
            {
                "model": "shapes-sd",
                "prompt": "a green triangle",
                "negative_prompt": "",
                "strength": 0.85,
                "zoom": True,
                "guidance_scale": 5.0,
                "scheduler": "DPM-Solver++",
                "steps": 6,
                "seed": 0,
                "soft_mask": False,
            },
            {"editor": editor(tmp_path)},
        ),
        "/super_resolution": (
            "super_resolution",
            {
                "model": "photo-sr-4x",
                "scheduler": "DDIM",
                "steps": 4,
                "eta": 0.5,
                "seed": 3,
                "prompt": "",
                "guidance_scale": 5.0,
                "noise_level": 20,
                "consistent": True,
                "samples": 3,
            },
            {"photo": handle_file(str(EXAMPLES / "photo-chelsea.png"))},
        ),
    }


def result_png(outputs: tuple) -> str:
    result = outputs[2]
    return result[1] if isinstance(result, list | tuple) else result  # super-resolution: (bicubic, diffusion)


@pytest.mark.parametrize("endpoint", ["/unconditional", "/text_to_image", "/inpaint", "/super_resolution"])
def test_every_endpoint_returns_its_animation_sheet_and_a_png_with_its_settings(
    client: Client, endpoint: str, tmp_path: Path
) -> None:
    task, settings, images = runs(tmp_path)[endpoint]
    outputs = client.predict(**settings, **images, random_seed=False, api_name=endpoint)
    # /text_to_image also gives the word maps' strip (empty: "Where each word looks" is off by default)
    assert len(outputs) == (9 if endpoint == "/text_to_image" else 8) and outputs[3].startswith("Done")
    animation, sheet = outputs[6], outputs[7]
    with Image.open(animation) as animated:
        steps_run = outputs[5]["maximum"]  # the replay slider's: inpainting at strength 0.85 runs 5 of 6 steps
        assert animated.format == "WEBP" and animated.is_animated and animated.n_frames == steps_run
    assert Image.open(sheet).format == "PNG"
    png = Image.open(result_png(outputs))
    assert png.format == "PNG" and f"Task: {task}" in png.info[PARAMETERS_KEY]
    assert f"Seed: {settings['seed']}," in png.info[PARAMETERS_KEY]


@pytest.mark.parametrize("endpoint", ["/unconditional", "/text_to_image", "/inpaint", "/super_resolution"])
def test_a_result_png_restores_settings_that_make_it_again_bit_for_bit(
    client: Client, endpoint: str, tmp_path: Path
) -> None:
    task, settings, images = runs(tmp_path)[endpoint]
    first = client.predict(**settings, **images, random_seed=True, api_name=endpoint)  # a seed of its own
    text, notices, found = client.predict(image=handle_file(result_png(first)), api_name="/png_info")
    assert text == read_parameters(result_png(first)) and notices.startswith("- Restored into")
    assert found["task"] == task and found["inputs"] == {**settings, "seed": first[4], "random_seed": False}

    again = client.predict(**found["inputs"], **images, api_name=endpoint)  # the image inputs: loaded again
    assert Path(result_png(again)).read_bytes() == Path(result_png(first)).read_bytes()
    np.testing.assert_array_equal(np.asarray(Image.open(result_png(again))), np.asarray(Image.open(result_png(first))))


def test_png_info_without_settings_or_with_an_a1111_files_says_what(client: Client, tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    text, notices, found = client.predict(image=handle_file(str(tmp_path / "plain.png")), api_name="/png_info")
    assert text == "" and "carries no settings" in notices and found is None

    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(PARAMETERS_KEY, "a castle\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 9, Model: sd15")
    Image.new("RGB", (8, 8)).save(tmp_path / "a1111.png", pnginfo=info)
    text, notices, found = client.predict(image=handle_file(str(tmp_path / "a1111.png")), api_name="/png_info")
    assert text.startswith("a castle") and "Not restored: Model 'sd15'" in notices and "Karras" in notices
    assert found["inputs"]["scheduler"] == "DPM-Solver++" and found["inputs"]["seed"] == 9


def test_png_info_is_an_api_endpoint_taking_image(client: Client) -> None:
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/png_info"]
    assert [parameter["parameter_name"] for parameter in endpoint["parameters"]] == ["image"]
