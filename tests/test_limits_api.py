"""The serving limits and the checks of every input, through gradio_client as a stranger would call the API."""

from __future__ import annotations

import io

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from pipelines.engine import limits


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def text_to_image(client: Client, **overrides) -> tuple:
    settings = {
        "model": "shapes-sd",
        "prompt": "a red circle",
        "negative_prompt": "",
        "guidance_scale": 5.0,
        "scheduler": "DDIM",
        "steps": 3,
        "seed": 0,
        "random_seed": False,
        "batch_size": 1,
    }
    return client.predict(**{**settings, **overrides}, api_name="/text_to_image")


def test_a_huge_prompt_is_cut_and_never_echoed_whole(client: Client) -> None:
    status = text_to_image(client, prompt="a red circle " * 80_000)[3]  # over a million characters
    assert status.startswith("Done") and len(status) < 400 and "…" in status


@pytest.mark.parametrize(
    "endpoint, overrides, message",
    [
        ("/text_to_image", {"steps": "ten"}, "Steps takes a number from 1 to 1000; got 'ten'"),
        ("/text_to_image", {"guidance_scale": [5]}, "Guidance scale takes a number from 1 to 20"),
        ("/text_to_image", {"steps": 5000}, "Steps: Value 5000 is greater than maximum value 1000"),
        ("/text_to_image", {"seed": "zero"}, "Seed takes a number; got 'zero'"),
        ("/text_to_image", {"scheduler": "x" * 100_000}, "Scheduler takes one of: DPM-Solver++"),
        ("/text_to_image", {"model": "../../../../etc/passwd"}, "not in this app's catalogue"),
    ],
)
def test_a_wrong_value_names_its_parameter_and_the_server_keeps_serving(
    client: Client, endpoint: str, overrides: dict, message: str
) -> None:
    with pytest.raises(Exception, match=message) as raised:
        text_to_image(client, **overrides)
    assert len(str(raised.value)) < 600  # the value is not echoed whole
    assert text_to_image(client)[3].startswith("Done")


def test_an_upload_over_the_size_limit_is_refused(client: Client, tmp_path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (2200, 2200, 3), dtype=np.uint8)  # ~14 MB as a PNG
    path = tmp_path / "huge.png"
    Image.fromarray(noise).save(path, compress_level=0)
    assert path.stat().st_size > 10_000_000
    with pytest.raises(Exception, match="(?i)file.*(large|size)|exceed"):
        client.predict(
            "photo-sr-4x", handle_file(str(path)), "DDIM", 2, 0.0, 0, False, "", 5.0, 20, True,
            api_name="/super_resolution",
        )  # fmt: skip
    buffer = io.BytesIO()
    Image.fromarray(noise[:64, :64]).save(buffer, format="PNG")
    small = tmp_path / "small.png"
    small.write_bytes(buffer.getvalue())
    status = client.predict(
        "photo-sr-4x", handle_file(str(small)), "DDIM", 2, 0.0, 0, False, "", 5.0, 20, True,
        api_name="/super_resolution",
    )[3]  # fmt: skip
    assert status.startswith("Done")


def test_the_limits_are_in_force() -> None:
    assert app.demo._queue.max_size == limits.MAX_QUEUE
    generation = [fn for fn in app.demo.fns.values() if fn.api_name in ("unconditional", "text_to_image")]
    assert len(generation) == 2 and all(fn.concurrency_limit == limits.CONCURRENT_RUNS for fn in generation)
    assert all(fn.trigger_mode == "always_last" for fn in generation)
    assert app.demo.delete_cache == limits.DELETE_CACHE


def test_prompts_are_cut_with_a_notice() -> None:
    prompt, notices = limits.cut_prompt("x" * (limits.MAX_PROMPT_CHARACTERS + 5))
    assert len(prompt) == limits.MAX_PROMPT_CHARACTERS and "only its first" in notices[0]
    assert limits.cut_prompt("a red circle") == ("a red circle", []) and limits.cut_prompt(None) == ("", [])
    with pytest.raises(ValueError, match="must be text"):
        limits.cut_prompt({"a": 1})
    assert limits.shown("y" * 500).endswith("…") and len(limits.shown("y" * 500)) == limits.SHOWN_PROMPT_CHARACTERS
