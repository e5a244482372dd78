"""A real browser (Debian's Chromium under Playwright) on the Train tab: draw a shape with the mouse, train on it,
watch the updates stream, get the files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from conftest import ARTIFACTS
from playwright.sync_api import expect
from test_browser import WATCH_STATUS

from pipelines import toy_points

TIMEOUT = 180_000  # ms: generous, machines differ ~4x in speed


def draw_circle(page, box: dict) -> None:
    """One stroke round a circle in the middle of the canvas, half its width across."""
    centre_x, centre_y, radius = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 4
    page.mouse.move(centre_x + radius, centre_y)
    page.mouse.down()
    for index in range(1, 41):
        angle = 2 * math.pi * index / 40
        page.mouse.move(centre_x + radius * math.cos(angle), centre_y + radius * math.sin(angle), steps=2)
    page.mouse.up()


def test_draw_a_circle_and_train_on_it(app_url: str, browser, monkeypatch) -> None:
    masks = []  # what the server made of the stroke (the app runs in this process)
    drawing_points = toy_points.drawing_points
    monkeypatch.setattr(
        toy_points, "drawing_points", lambda drawn, *args: masks.append(drawn) or drawing_points(drawn, *args)
    )
    page = browser.new_page(viewport={"width": 1280, "height": 1300})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.get_by_role("tab", name="Train", exact=True).click()
    tab = page.locator("#train-tab")
    try:
        canvas = tab.locator("#train-drawing canvas").first
        expect(canvas).to_be_visible(timeout=TIMEOUT)
        tab.get_by_role("button", name="Brush", exact=True).click()  # the canvas asks for the draw tool first
        draw_circle(page, canvas.bounding_box())
        steps = tab.get_by_label("number input for Training steps")
        steps.fill("300")
        steps.press("Enter")
        page.evaluate(WATCH_STATUS, "#train-status")
        tab.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_function("() => window.statuses.some(text => text.startsWith('Done'))", timeout=TIMEOUT)
        statuses = page.evaluate("window.statuses")
        assert sum(text.startswith("Training: step") for text in statuses) >= 2, statuses
        assert statuses[-1].startswith("Done: step 300 / 300"), statuses[-1]
        expect(tab.locator("#train-weights")).to_contain_text(".safetensors", timeout=TIMEOUT)
        expect(tab.locator("#train-animation")).to_contain_text(".webp", timeout=TIMEOUT)
        distance = float(tab.get_by_label("Distance of the DDPM samples to the data").input_value())
        untrained = float(tab.get_by_label("… for the untrained network").input_value())
        assert distance < 0.5 * untrained, (distance, untrained)
        for selector in ("#train-field", "#train-loss"):
            expect(page.locator(f"{selector} img")).to_be_visible(timeout=TIMEOUT)
    finally:
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "train-toy.png"), full_page=True)
    # the stroke as drawn: a ring of pixels round the canvas's middle, its centre empty
    mask = masks[-1]
    rows, columns = np.nonzero(mask)
    height, width = mask.shape
    radii = np.hypot(rows - height / 2, columns - width / 2) / width
    assert mask.sum() > 100 and 0.15 < np.median(radii) < 0.35 and not mask[height // 2, width // 2]
    assert not errors, errors
    page.close()
