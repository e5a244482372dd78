"""A real browser (Debian's Chromium under Playwright) on the Compare tab: a small guidance sweep streams cell by
cell and ends in the labelled grid; the sampler comparison's task switch sets its model, prompt and samplers."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ARTIFACTS
from playwright.sync_api import expect
from test_browser import WATCH_STATUS

from pipelines import grids

TIMEOUT = 120_000  # ms: generous, machines differ ~4x in speed
BOTH_CELLS_THEN_DONE = """() => {
  const second = window.statuses.findIndex(text => text.startsWith('Cell 2 of 2'));
  return second >= 0 && window.statuses.slice(second).some(text => text.startsWith('Done: 2 cells'));
}"""


def test_a_guidance_sweep_streams_its_cells_and_shows_the_grid(app_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.get_by_role("tab", name="Compare").click()
    sweep = page.locator("#guidance-sweep-panel")
    try:
        sweep.get_by_label("Guidance scales").fill("1, 4")
        sweep.get_by_label("number input for Steps").fill("8")
        sweep.get_by_label("number input for Steps").press("Enter")
        page.evaluate(WATCH_STATUS, "#guidance-sweep-status")
        sweep.get_by_role("button", name="Generate").click()
        page.wait_for_function(BOTH_CELLS_THEN_DONE, timeout=TIMEOUT)
        statuses = page.evaluate("window.statuses")
        assert any(text.startswith("Cell 1 of 2 (no guidance)") for text in statuses), statuses
        expect(page.locator("#guidance-sweep-status")).to_contain_text("8 steps of DPM-Solver++", timeout=TIMEOUT)
        grid = page.locator("#guidance-sweep-grid img")
        page.wait_for_function(
            "() => { const image = document.querySelector('#guidance-sweep-grid img');"
            " return image && image.complete && image.naturalWidth > 0; }",
            timeout=TIMEOUT,
        )
        width, height = grid.evaluate("image => [image.naturalWidth, image.naturalHeight]")
        assert width >= 2 * grids.CELL_SIZE and height > grids.CELL_SIZE  # two cells in a row, labels below

        # The sampler comparison: Text to image brings its models, a prompt and its own default samplers
        comparison = page.locator("#sampler-comparison-panel")
        expect(comparison.get_by_label("Prompt (text to image)")).to_be_hidden()
        comparison.get_by_label("Text to image").check()
        expect(comparison.get_by_label("Prompt (text to image)")).to_be_visible(timeout=TIMEOUT)
        expect(comparison.get_by_label("Samplers and steps")).to_have_value(
            grids.DEFAULT_SAMPLERS["Text to image"], timeout=TIMEOUT
        )
        expect(comparison.get_by_label("Model")).to_have_value(re.compile(r"^shapes-sd\b"), timeout=TIMEOUT)
    finally:
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    assert not errors, errors
    page.close()
