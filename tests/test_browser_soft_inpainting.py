"""Soft-mask inpainting in a real browser: paint two grey levels with the brush strength, run, see the change map."""

from __future__ import annotations

import io
import time
import urllib.request

import numpy as np
from conftest import ARTIFACTS
from PIL import Image
from playwright.sync_api import expect
from test_browser import open_tab, set_steps, streamed_steps

from pipelines import inpainting


def paint_row(page, box: dict, height_fraction: float) -> None:
    """A horizontal stroke over the middle 30 % of the canvas, at `height_fraction` of its height."""
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * height_fraction)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * height_fraction, steps=8)
    page.mouse.up()


def events_in_flight(page) -> set:
    """The page's non-queued event calls (POST .../run/...) not yet answered, kept up to date as they go."""
    pending: set = set()
    page.on("request", lambda request: pending.add(request) if "/run/" in request.url else None)
    page.on("requestfinished", lambda request: pending.discard(request))
    page.on("requestfailed", lambda request: pending.discard(request))
    return pending


def wait_until_answered(page, pending: set, seconds: float = 30) -> None:
    """Wait until every event call has its answer: typing a number can send the brush's change more than once,
    and an answer that lands mid-stroke re-renders the editor and loses the stroke."""
    deadline = time.monotonic() + seconds
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} event calls unanswered after {seconds:g} s"
        page.wait_for_timeout(50)  # lets Playwright deliver the page's events


def set_brush_strength(tab, strength: float, pending: set) -> None:
    """Type the strength, then wait until the server answered and the editor's palette shows its brush."""
    number = tab.get_by_label("number input for Brush strength (grey level painted)")
    number.fill(str(strength))
    number.press("Enter")
    wait_until_answered(tab.page, pending)
    palette = tab.get_by_role("button", name="Color")
    palette.click()
    expect(tab.locator(f'button.color[style*="opacity: {strength:g};"]')).to_be_visible(timeout=30_000)
    palette.click()  # closed again, the brush still selected
    wait_until_answered(tab.page, pending)


def test_soft_mask_painted_in_two_grey_levels_and_its_change_map(app_url: str, browser, monkeypatch) -> None:
    masks = []  # the masks the server made of the strokes (the app runs in this process)
    prepare = inpainting.prepare

    def recording_prepare(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        masks.append(np.asarray(prepared[1]))
        return prepared

    monkeypatch.setattr(inpainting, "prepare", recording_prepare)
    page, tab, errors = open_tab(browser, app_url, "Inpainting", "inpainting", 1400)
    pending = events_in_flight(page)
    strength_slider = tab.get_by_label("number input for Brush strength (grey level painted)")
    assert not strength_slider.is_visible()
    tab.locator(".gallery-item").first.click()  # the first example scene goes into the editor, brush selected
    canvas = tab.locator("canvas").first
    canvas.wait_for(timeout=30_000)
    tab.get_by_label("Soft mask").check()
    strength_slider.wait_for(timeout=30_000)  # shown with the soft mask
    box = canvas.bounding_box()
    set_brush_strength(tab, 0.25, pending)
    paint_row(page, box, 0.3)
    set_brush_strength(tab, 1, pending)  # the first stroke stays as it was painted
    paint_row(page, box, 0.7)
    # A late answer to the brush's change can re-render the editor and lose a stroke (seen once in CI, on a full
    # run): painted again, a fully opaque stroke is the same stroke, whether or not the first one was kept.
    wait_until_answered(page, pending)
    paint_row(page, box, 0.7)
    set_steps(tab, 40)
    statuses = streamed_steps(page, "inpainting", 40)
    assert "soft mask" in statuses[-1], statuses[-1]

    mask = masks[-1]  # 32 x 32 grey levels: the first stroke's rows at 0.25 above the second's at 1, the sides 0
    assert mask.shape == (32, 32) and mask[:, :3].max() == 0 and mask[:, -3:].max() == 0
    row_levels = np.median(mask[:, 14:18], axis=1)
    faint, full = np.flatnonzero(np.abs(row_levels - 64) <= 3), np.flatnonzero(row_levels >= 250)
    assert len(faint) >= 2 and len(full) >= 2 and faint.max() < full.min(), row_levels

    change_map = tab.locator("#inpainting-change-map img")
    change_map.wait_for(timeout=30_000)
    with urllib.request.urlopen(change_map.get_attribute("src")) as response:
        shown = Image.open(io.BytesIO(response.read())).convert("L")
    assert shown.size == (256, 256)  # 32 px enlarged 8x, like the result
    changes = np.asarray(shown.resize((32, 32), Image.Resampling.NEAREST), dtype=int)
    assert changes[mask == 0].max() == 0  # unpainted pixels are kept exactly
    assert changes[mask > 0].mean() > 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "soft-inpainting.png"), full_page=True)
    assert not errors, errors
    page.close()
