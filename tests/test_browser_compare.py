"""A real browser (Debian's Chromium under Playwright) on the Compare tab: the default guidance sweep streams cell by
cell and ends in the labelled grid, a PNG whose settings PNG info puts back into the tab; the sampler comparison's
task switch sets its model, prompt and samplers."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ARTIFACTS
from playwright.sync_api import expect
from test_browser import TIMEOUT, WATCH_STATUS, picture_changes

from pipelines import grids
from pipelines.keepsakes.png_info import read_parameters

ALL_CELLS_THEN_DONE = """() => {
  const last = window.statuses.findIndex(text => text.startsWith('Cell 5 of 5'));
  return last >= 0 && window.statuses.slice(last).some(text => text.startsWith('Done: 5 cells'));
}"""


def test_a_guidance_sweep_streams_its_cells_and_shows_the_grid(app_url: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    Path(ARTIFACTS).mkdir(exist_ok=True)
    page.get_by_role("tab", name="Compare").click()
    sweep = page.locator("#guidance-sweep-panel")
    try:  # the panel's defaults: 1, 2, 4, 8, 16 at 25 steps (2.6 s on 2 cores)
        page.evaluate(WATCH_STATUS, "#guidance-sweep-status")
        sweep.get_by_role("button", name="Generate").click()
        page.wait_for_function(ALL_CELLS_THEN_DONE, timeout=TIMEOUT)
        statuses = page.evaluate("window.statuses")
        assert any(text.startswith("Cell 1 of 5 (no guidance)") for text in statuses), statuses
        expect(page.locator("#guidance-sweep-status")).to_contain_text("25 steps of DPM-Solver++", timeout=TIMEOUT)
        grid = page.locator("#guidance-sweep-grid img")
        picture_changes(page, "#guidance-sweep-grid", "")
        width, height = grid.evaluate("image => [image.naturalWidth, image.naturalHeight]")
        assert width >= 5 * grids.CELL_SIZE and height > grids.CELL_SIZE  # five cells in a row, labels below
        page.screenshot(path=str(ARTIFACTS / "compare-guidance-sweep.png"), full_page=True)

        # The grid is a PNG carrying its settings: PNG info puts them back into this panel
        (tmp_path / "grid.png").write_bytes(page.request.get(grid.get_attribute("src")).body())
        assert 'Guidance scales: "1, 2, 4, 8, 16"' in read_parameters(tmp_path / "grid.png")
        sweep.get_by_label("Guidance scales").fill("2")
        page.get_by_role("tab", name="PNG info").click()
        page.locator("#png-info-image input[type=file]").set_input_files(str(tmp_path / "grid.png"))
        expect(page.locator("#png-info-notices")).to_contain_text(
            "Restored into Compare (guidance sweep)", timeout=TIMEOUT
        )
        page.get_by_role("button", name="Restore these settings into their tab").click()
        expect(page.get_by_role("tab", name="Compare")).to_have_attribute("aria-selected", "true", timeout=TIMEOUT)
        expect(sweep.get_by_label("Guidance scales")).to_have_value(grids.DEFAULT_SCALES)

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
