"""A real browser (Debian's Chromium under Playwright) clicks through every tab."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTIFACTS
from playwright.sync_api import expect

# Records every text a status line shows, so that frames streamed between polls are not missed.
WATCH_STATUS = """(selector) => {
  window.statuses = [];
  const status = document.querySelector(selector);
  new MutationObserver(() => window.statuses.push(status.innerText.trim()))
    .observe(status, {subtree: true, childList: true, characterData: true});
}"""
DONE_AFTER_A_STEP = """() => {
  const first_step = window.statuses.findIndex(text => text.startsWith('Step'));
  return first_step >= 0 && window.statuses.slice(first_step).some(text => text.startsWith('Done'));
}"""


TIMEOUT = 120_000  # ms: generous, machines differ ~4x in speed
PICTURE_SOURCE = "(selector) => document.querySelector(selector + ' img')?.src ?? ''"


def picture_changes(page, selector: str, before: str) -> str:
    """Wait until the picture in `selector` is shown and differs from `before`; returns its source. The block is
    scrolled into view first: Gradio's pictures load lazily, so one far below the viewport never loads."""
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_function(
        "([selector, before]) => { const image = document.querySelector(selector + ' img');"
        " return image && image.complete && image.naturalWidth > 0 && image.src !== before; }",
        arg=[selector, before],
        timeout=TIMEOUT,
    )
    return page.evaluate(PICTURE_SOURCE, selector)


def set_steps(tab, steps: int) -> None:
    tab.get_by_label("number input for Steps").fill(str(steps))
    tab.get_by_label("number input for Steps").press("Enter")


def streamed_steps(page, task: str, steps: int) -> list[str]:
    """Click Generate in the tab of `task` and wait for Done; returns every status the line showed."""
    page.evaluate(WATCH_STATUS, f"#{task}-status")
    page.locator(f"#{task}-tab").get_by_role("button", name="Generate").click()
    try:  # a Done after a step of this run (an earlier run's Done may still be on show when it starts)
        page.wait_for_function(DONE_AFTER_A_STEP, timeout=120_000)
    finally:
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{task}-run.png"), full_page=True)
    statuses = page.evaluate("window.statuses")
    statuses = statuses[: max(index for index, text in enumerate(statuses) if text.startswith("Done")) + 1]
    seen = [text for text in statuses if text.startswith("Step")]
    assert len(seen) >= 2 and not seen[0].startswith(f"Step {steps} /"), statuses
    return statuses


def open_tab(browser, app_url: str, name: str, task: str, height: int) -> tuple:
    """A new page on the app with tab `name` selected: (page, the tab's locator, page errors seen so far)."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.get_by_role("tab", name=name).click()
    return page, page.locator(f"#{task}-tab"), errors


def test_generate_streams_frames_then_shows_the_result(app_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    tab = page.locator("#unconditional-tab")
    set_steps(tab, 60)
    statuses = streamed_steps(page, "unconditional", 60)
    assert "60 steps of DPM-Solver++ SDE" in statuses[-1]
    result = tab.locator(".pixelated img").last
    assert result.evaluate("image => image.complete && image.naturalWidth") == 2 * 32 * 8 + 8
    # After the run the slider replays the trajectory: step 1 is shown again. First the run's files: their update
    # comes after the result's and shows the last step again (a replay before it would be undone on a slow machine)
    page.locator("#unconditional-animation a[download]").first.wait_for(timeout=60_000)
    replay = tab.get_by_label("number input for Replay: step")
    replay.fill("1")
    replay.press("Enter")
    page.wait_for_selector("#unconditional-status:has-text('Step 1 / 60')", timeout=30_000)
    # Play steps the replay through the whole run, ending on its last step
    page.evaluate(WATCH_STATUS, "#unconditional-status")
    tab.locator("#unconditional-play").click()
    page.wait_for_selector("#unconditional-status:has-text('Step 60 / 60')", timeout=60_000)
    played = [text for text in page.evaluate("window.statuses") if text.startswith("Step")]
    assert len(played) >= 3 and played[0] != "Step 60 / 60", played
    Path(ARTIFACTS).mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "unconditional.png"), full_page=True)
    assert not errors, errors
    page.close()


def pick_model(tab, name: str) -> None:
    tab.get_by_label("Model").click()
    tab.page.get_by_role("option", name=name).click()


def test_a_hub_model_offline_says_so_and_the_page_keeps_working(app_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(app_url)
    tab = page.locator("#unconditional-tab")
    pick_model(tab, "google/ddpm-cifar10-32: hub, 32×32 CIFAR-10 (Ho et al. 2020)")
    tab.get_by_role("button", name="Generate").click()
    page.wait_for_selector("text=cannot reach the Hugging Face hub (no internet)", timeout=120_000)
    pick_model(tab, "shapes-ddpm: embedded, 32×32 shapes, trained by this project")
    set_steps(tab, 5)
    tab.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#unconditional-status:has-text('Done')", timeout=60_000)
    page.close()


def test_stop_then_generate_at_once_always_runs_the_next(app_url: str, browser) -> None:
    """The race of issue 12: Generate clicked right after Stop, while the stopped run still finishes its step."""
    page = browser.new_page()
    page.goto(app_url)
    tab = page.locator("#unconditional-tab")
    set_steps(tab, 1000)
    tab.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#unconditional-status:has-text('Step')", timeout=60_000)
    tab.get_by_role("button", name="Stop").click()
    set_steps(tab, 5)
    tab.get_by_role("button", name="Generate").click()  # at once: no wait for the stopped run's message
    try:
        page.wait_for_selector("#unconditional-status:has-text('Done: 4 image(s)')", timeout=120_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "stopped.png"), full_page=True)
    assert "5 steps of" in page.locator("#unconditional-status").inner_text()
    page.close()


def test_stop_ends_only_the_run_of_its_own_tab(app_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(app_url)
    tab = page.locator("#unconditional-tab")
    set_steps(tab, 1000)
    page.evaluate(WATCH_STATUS, "#unconditional-status")
    tab.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#unconditional-status:has-text('Step')", timeout=60_000)
    page.get_by_role("tab", name="Text to image").click()
    page.locator("#text-to-image-tab").get_by_role("button", name="Stop").click()  # another tab's Stop
    page.get_by_role("tab", name="Unconditional").click()
    seen = page.evaluate("window.statuses.length")
    page.wait_for_function(f"window.statuses.length > {seen} + 5", timeout=60_000)  # still streaming
    assert not any(text.startswith("Stopped") for text in page.evaluate("window.statuses"))
    tab.get_by_role("button", name="Stop").click()  # its own Stop
    page.wait_for_selector("#unconditional-status:has-text('Stopped after step')", timeout=60_000)
    assert "of 1000" in page.locator("#unconditional-status").inner_text()
    page.close()


def test_text_to_image_from_an_example_prompt(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "Text to image", "text-to-image", 1000)
    tab.get_by_text("a small blue square").click()  # an example prompt fills the prompt box
    expect(tab.get_by_label("Prompt", exact=True)).to_have_value("a small blue square", timeout=10_000)
    set_steps(tab, 200)
    statuses = streamed_steps(page, "text-to-image", 200)
    assert "“a small blue square”" in statuses[-1] and "200 steps of DPM-Solver++" in statuses[-1]
    result = tab.locator(".pixelated img").last
    assert result.evaluate("image => image.complete && image.naturalWidth") == 2 * 32 * 8 + 8  # 2x2 grid, 8x
    page.screenshot(path=str(ARTIFACTS / "text-to-image.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_inpainting_an_example_with_a_painted_mask(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "Inpainting", "inpainting", 1100)
    tab.locator(".gallery-item").first.click()  # the first example scene goes into the editor, brush selected
    canvas = tab.locator("canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    # Scribble over the lower middle of the canvas, where the example's orange square is.
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.6)
    page.mouse.down()
    for fraction in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
        page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * fraction, steps=3)
        page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * fraction, steps=3)
    page.mouse.up()
    set_steps(tab, 100)
    statuses = streamed_steps(page, "inpainting", 100)
    assert "repainted with “a green triangle”" in statuses[-1]
    page.screenshot(path=str(ARTIFACTS / "inpainting.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_super_resolution_of_an_example_photo(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "Super-resolution", "super-resolution", 1200)
    tab.locator(".gallery-item").last.click()  # an example photo goes into the upload box
    expect(tab.locator("img").first).to_be_visible(timeout=30_000)
    set_steps(tab, 40)
    tab.get_by_label("number input for Samples averaged").fill("2")
    tab.get_by_label("number input for Samples averaged").press("Enter")
    statuses = streamed_steps(page, "super-resolution", 40)
    assert "upscaled to" in statuses[-1] and "40 steps of DDIM" in statuses[-1]
    assert "the mean of 2 samples" in statuses[-1], statuses[-1]
    assert "back-projected onto the photo" in statuses[-1]
    # The before/after slider holds bicubic and the diffusion result, both 4x the photo
    widths = page.locator("#super-resolution-result img").evaluate_all(
        "images => images.map(image => image.naturalWidth)"
    )
    assert len(widths) >= 2 and set(widths) == {4 * 64}, widths
    page.screenshot(path=str(ARTIFACTS / "super-resolution.png"), full_page=True)
    # Unticked, the model's raw output is shown
    tab.get_by_label("Consistent with the photo").uncheck()
    statuses = streamed_steps(page, "super-resolution", 40)
    assert "raw model output" in statuses[-1], statuses[-1]
    assert not errors, errors
    page.close()
