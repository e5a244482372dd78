"""A real browser (Debian's Chromium under Playwright) on the How it works tab: drag t, predict, run the toy."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTIFACTS
from playwright.sync_api import expect
from test_browser import PICTURE_SOURCE, TIMEOUT, WATCH_STATUS, picture_changes


def test_drag_t_predict_the_noise_and_run_the_toy(app_url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    page.get_by_role("tab", name="How it works").click()
    tab = page.locator("#how-it-works-tab")
    try:
        # On load: x_t of the example at t = 250, the schedules, the toy
        noisy = picture_changes(page, "#forward-noisy", "")
        expect(page.locator("#forward-status")).to_contain_text("t = 250 on the linear schedule", timeout=TIMEOUT)
        schedules = picture_changes(page, "#schedule-plot", "")
        picture_changes(page, "#toy-plot", "")

        # Drag the t slider to the right: x_t, ᾱ_t, the status and the schedules' marker follow
        slider = tab.locator("input[type=range]").first
        slider.scroll_into_view_if_needed()  # the pictures waited for above scrolled the page down
        box = slider.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
        page.mouse.down()
        for fraction in (0.35, 0.5, 0.65, 0.8):
            page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2, steps=4)
        page.mouse.up()
        expect(tab.get_by_label("number input for Timestep t", exact=True)).not_to_have_value("250")
        dragged_to = int(tab.get_by_label("number input for Timestep t", exact=True).input_value())
        assert dragged_to > 600, dragged_to
        expect(page.locator("#forward-status")).to_contain_text(f"t = {dragged_to} on", timeout=TIMEOUT)
        assert picture_changes(page, "#forward-noisy", noisy) != noisy
        assert picture_changes(page, "#schedule-plot", schedules) != schedules

        # Predict the noise at that t: x_t, ε, ε̂, x̂0 and the error appear
        tab.get_by_role("button", name="Predict the noise at t").click()
        expect(page.locator("#prediction-status")).to_contain_text(f"at t = {dragged_to} of its own", timeout=TIMEOUT)
        for name in ("noisy", "noise", "predicted-noise", "predicted-original"):
            picture_changes(page, f"#prediction-{name}", "")
        predicted = page.evaluate(PICTURE_SOURCE, "#prediction-predicted-original")
        # Another t, predicted again: new pictures
        number = tab.get_by_label("number input for Timestep t", exact=True)
        number.fill("100")
        number.press("Enter")
        tab.get_by_role("button", name="Predict the noise at t").click()
        expect(page.locator("#prediction-status")).to_contain_text("at t = 100 of its own", timeout=TIMEOUT)
        picture_changes(page, "#prediction-predicted-original", predicted)

        # The toy: particles streamed through DDPM and DDIM, step by step, then Done
        page.evaluate(WATCH_STATUS, "#toy-status")
        tab.get_by_role("button", name="Run DDPM and DDIM").click()
        page.wait_for_function("() => window.statuses.some(text => text.startsWith('Done'))", timeout=TIMEOUT)
        statuses = page.evaluate("window.statuses")
        assert sum(text.startswith("Step") for text in statuses) >= 2, statuses
        picture_changes(page, "#toy-reverse", "")
    finally:
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "how-it-works.png"), full_page=True)
    assert not errors, errors
    page.close()
