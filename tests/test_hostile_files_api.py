"""Files a stranger might send, through gradio_client on localhost: a pixel bomb is refused from its header on every
tab that takes an image, before anything is decoded, and a PNG whose settings text is a megabyte long is read within
a second; the server keeps serving."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image, PngImagePlugin

from pipelines.engine import limits
from pipelines.engine.images import check_pixels

BOMB_SIDE = 11_000  # 121 megapixels


def resident_megabytes() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same all-black 121 Mpx image as PNG (~120 kB) and JPEG, and an animated GIF of two such frames."""
    folder = tmp_path_factory.mktemp("bombs")
    black = Image.new("L", (BOMB_SIDE, BOMB_SIDE))
    black.save(folder / "bomb.png", optimize=True)
    black.save(folder / "bomb.gif", save_all=True, append_images=[Image.new("L", (BOMB_SIDE, BOMB_SIDE), 255)])
    black.save(folder / "bomb.jpg", quality=10)
    Image.new("RGB", (64, 64)).save(folder / "small.png")
    return {path.name: path for path in folder.iterdir()}


def calls(image: Path) -> dict[str, tuple]:
    upload = handle_file(str(image))
    editor = {"background": upload, "layers": [], "composite": None}
    return {
        "/forward_process": (upload, 250, "linear", 0, "shapes-ddpm"),
        "/predict_noise": (upload, 250, 0, "shapes-ddpm"),
        "/super_resolution": ("photo-sr-4x", upload, "DDIM", 1, 0.0, 0, False, "", 5.0, 20, True, 1),
        "/inpaint": ("shapes-sd", editor, "a red circle", "", 1.0, True, 5.0, "DDIM", 2, 0, False, False),
        "/png_info": (upload,),
        "/image_to_image": ("shapes-ddpm", editor, "", "", 0.6, 5.0, "DPM-Solver++", 5, 0, False),
        "/strength_sweep": ("shapes-ddpm", upload, "", 0, "0.2, 0.6", "DPM-Solver++", 5),
    }


def test_the_header_check_reads_sizes_without_decoding(bombs: dict[str, Path]) -> None:
    for name in ("bomb.png", "bomb.gif", "bomb.jpg"):
        path = bombs[name]
        started = time.perf_counter()
        with pytest.raises(ValueError, match="11000×11000, 121 megapixels.*at most 25 megapixels"):
            check_pixels(str(path))
        assert time.perf_counter() - started < 0.5  # a decode of 121 Mpx takes seconds
    check_pixels(str(bombs["small.png"]))  # a normal image passes
    check_pixels(b"not an image")  # left to the reader, which says what is wrong


def test_a_pixel_bomb_is_refused_on_every_tab_before_decoding(client: Client, bombs: dict[str, Path]) -> None:
    assert limits.MAX_IMAGE_PIXELS < BOMB_SIDE**2
    client.predict(*calls(bombs["small.png"])["/forward_process"], api_name="/forward_process")  # warm
    before = resident_megabytes()
    for endpoint, arguments in calls(bombs["bomb.png"]).items():
        with pytest.raises(Exception, match="too large to open safely .*121 megapixels") as raised:
            client.predict(*arguments, api_name=endpoint)
        assert len(str(raised.value)) < 400
    grown = resident_megabytes() - before
    # decoding the bomb once takes 121 MB (grey) to 363 MB (RGB); a normal upload's work costs a few MB
    assert grown < 60, f"RSS grew {grown:.0f} MB"
    noisy, alpha_prod, _ = client.predict(*calls(bombs["small.png"])["/forward_process"], api_name="/forward_process")
    assert 0 < alpha_prod < 1  # still serving


def test_a_megabyte_of_settings_text_is_read_within_a_second(client: Client, tmp_path: Path) -> None:
    """The PNG that held a core for an hour: one 1 MB `parameters` line without a colon (zTXt: ~1 kB)."""
    path = tmp_path / "long-text.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a" * 1_000_000, zip=True)
    Image.new("RGB", (32, 32)).save(path, pnginfo=info)
    assert path.stat().st_size < 5_000 and len(zlib.compress(b"a" * 1_000_000)) < 5_000
    started = time.perf_counter()
    text, notices, _ = client.predict(handle_file(str(path)), api_name="/png_info")
    assert time.perf_counter() - started < 5.0  # the parse itself: well under a second (tests/test_linear_parsing.py)
    assert "only its first 20,000 were read" in notices and len(text) == 20_000
