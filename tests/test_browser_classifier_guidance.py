"""Classifier guidance in Chromium: pick a target, Generate, watch the classifier's belief stream, see Done."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTIFACTS
from test_browser import open_tab, picture_changes, streamed_steps


def test_pick_a_target_and_generate(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "Classifier guidance", "classifier-guidance", 1100)
    tab.get_by_label("Target: a colour or a shape").click()
    page.get_by_role("option", name="blue", exact=True).click()
    statuses = streamed_steps(page, "classifier-guidance", 50)
    assert statuses[-1].startswith("Done: 4 image(s) guided towards “blue”"), statuses[-1]
    assert any("p(blue | x_t)" in text for text in statuses if text.startswith("Step")), statuses
    result = tab.locator("#classifier-guidance-result img")
    # the status can say Done a moment before the result's picture has loaded (seen once in a full CI run)
    picture_changes(page, "#classifier-guidance-result", "")
    # two rows (guided, then the same seeds unguided) of 4 images of 32 px, 1 px gaps, enlarged 8x
    assert result.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [(4 * 33 - 1) * 8, 65 * 8]
    Path(ARTIFACTS).mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "classifier-guidance.png"), full_page=True)
    assert not errors, errors
    page.close()
