"""A real browser (Debian's Chromium under Playwright): pick a word of the prompt and watch where it looks while a
run streams; the latent round trip and the U-Net's levels in How it works."""

from __future__ import annotations

from conftest import ARTIFACTS
from playwright.sync_api import expect
from test_browser import TIMEOUT, open_tab, picture_changes, set_steps, streamed_steps

STRIP = "#text-to-image-word-maps"
PREVIEW = f"{STRIP} [data-testid=detailed-image]"  # the picked word, large


def test_pick_a_word_and_it_stays_picked_while_the_next_run_streams(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "Text to image", "text-to-image", 1600)
    try:
        expect(page.locator(STRIP)).to_be_hidden()
        tab.get_by_label("Where each word looks").check()
        expect(page.locator(STRIP)).to_be_visible()
        tab.get_by_label("Prompt", exact=True).fill("a red circle on the left and a blue square on the right")
        set_steps(tab, 6)
        streamed_steps(page, "text-to-image", 6)
        thumbnails = page.locator(f"{STRIP} .thumbnail-item")
        expect(thumbnails).to_have_count(13, timeout=TIMEOUT)
        expect(thumbnails.locator(".caption-label")).to_have_text(
            ["a", "red", "circle", "on", "the", "left", "and", "a", "blue", "square", "on", "the", "right"]
        )
        thumbnails.nth(8).click()  # one click: "blue", large
        expect(page.locator(PREVIEW)).to_have_attribute("alt", "blue")
        before = page.locator(PREVIEW).get_attribute("src")
        # a longer run: its maps stream into the picked word's picture, which stays picked
        set_steps(tab, 40)
        statuses = streamed_steps(page, "text-to-image", 40)
        assert "40 steps of DPM-Solver++" in statuses[-1]
        expect(page.locator(PREVIEW)).to_have_attribute("alt", "blue")
        expect(page.locator(PREVIEW)).not_to_have_attribute("src", before)
        page.screenshot(path=str(ARTIFACTS / "word-maps.png"), full_page=True)
        assert not errors, errors
    finally:
        page.close()


def test_the_latent_round_trip_and_the_unet_levels_show(app_url: str, browser) -> None:
    page, tab, errors = open_tab(browser, app_url, "How it works", "how-it-works", 2400)
    try:
        for picture in ("#latent-input", "#latent-round-trip", "#latent-noised-pixels", "#latent-noised-latents"):
            picture_changes(page, picture, "")
        expect(page.locator("#latent-status")).to_contain_text("12× fewer", timeout=TIMEOUT)
        expect(page.locator("#latent-status")).to_contain_text("PSNR", timeout=TIMEOUT)
        page.get_by_role("button", name="Look inside the U-Net at t").click()
        diagram = picture_changes(page, "#unet-levels", "")
        expect(page.locator("#unet-levels-status")).to_contain_text("One call of shapes-sd's UNet", timeout=TIMEOUT)
        width = page.evaluate("(selector) => document.querySelector(selector + ' img').naturalWidth", "#unet-levels")
        assert width > 600, width
        page.get_by_role("button", name="Time one UNet step: latents vs pixels").click()
        expect(page.locator("#latent-timing")).to_contain_text("on a latent (4, 8, 8)", timeout=TIMEOUT)
        # another t: the levels are drawn again
        tab.get_by_label("number input for Timestep t", exact=True).fill("900")
        tab.get_by_label("number input for Timestep t", exact=True).press("Enter")
        expect(page.locator("#latent-status")).to_contain_text("t = 900", timeout=TIMEOUT)
        page.get_by_role("button", name="Look inside the U-Net at t").click()
        picture_changes(page, "#unet-levels", diagram)
        assert not errors, errors
    finally:
        page.screenshot(path=str(ARTIFACTS / "inside-the-model.png"), full_page=True)
        page.close()
