"""A real browser (Debian's Chromium under Playwright) clicks through the Unconditional tab."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTIFACTS

# Records every text the status line shows, so that frames streamed between polls are not missed.
WATCH_STATUS = """() => {
  window.statuses = [];
  const status = document.querySelector('#unconditional-status');
  new MutationObserver(() => window.statuses.push(status.innerText.trim()))
    .observe(status, {subtree: true, childList: true, characterData: true});
}"""


def test_generate_streams_frames_then_shows_the_result(app_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.get_by_label("number input for Steps").fill("60")
    page.get_by_label("number input for Steps").press("Enter")
    page.evaluate(WATCH_STATUS)
    page.get_by_role("button", name="Generate").click()
    try:
        page.wait_for_selector("#unconditional-status:has-text('Done')", timeout=120_000)
    finally:
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "unconditional-run.png"), full_page=True)

    statuses = page.evaluate("window.statuses")
    steps_seen = [text for text in statuses if text.startswith("Step")]
    assert len(steps_seen) >= 2 and not steps_seen[0].startswith("Step 60 /"), statuses
    assert "60 steps of DPM-Solver++ SDE" in statuses[-1]
    result = page.locator(".pixelated img").last
    assert result.evaluate("image => image.complete && image.naturalWidth") == 2 * 32 * 8 + 8
    # After the run the slider replays the trajectory: step 1 is shown again
    replay = page.get_by_label("number input for Replay: step")
    replay.fill("1")
    replay.press("Enter")
    page.wait_for_selector("#unconditional-status:has-text('Step 1 / 60')", timeout=30_000)
    Path(ARTIFACTS).mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "unconditional.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_bad_model_shows_an_error_and_the_page_keeps_working(app_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(app_url)
    model = page.get_by_label("Model")
    model.fill("no-such/model")
    model.press("Enter")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("text=Could not load model 'no-such/model'", timeout=60_000)
    model.fill("shapes-ddpm")
    model.press("Enter")
    page.get_by_label("number input for Steps").fill("5")
    page.get_by_label("number input for Steps").press("Enter")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#unconditional-status:has-text('Done')", timeout=60_000)
    page.close()


def test_stop_ends_the_run_with_a_message_and_generate_works_again(app_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(app_url)
    page.get_by_label("number input for Steps").fill("1000")
    page.get_by_label("number input for Steps").press("Enter")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#unconditional-status:has-text('Step')", timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_selector("#unconditional-status:has-text('Stopped after step')", timeout=30_000)
    stopped_at = page.locator("#unconditional-status").inner_text()
    assert "of 1000" in stopped_at, stopped_at
    page.get_by_label("number input for Steps").fill("5")
    page.get_by_label("number input for Steps").press("Enter")
    page.get_by_role("button", name="Generate").click()
    try:
        page.wait_for_selector("#unconditional-status:has-text('Done')", timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "stopped.png"), full_page=True)
    page.close()
