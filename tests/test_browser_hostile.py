"""A real browser: a visitor whose replay frames made room for others' sees a note at the slider, and an image too
large to open is answered with a message while the page keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ARTIFACTS
from PIL import Image
from test_browser import set_steps

from ui import replays


def test_a_replay_whose_frames_went_says_so_and_generate_brings_it_back(
    app_url: str, browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    tab = page.locator("#unconditional-tab")
    set_steps(tab, 8)
    tab.get_by_role("button", name="Generate").click()
    page.locator("#unconditional-animation a[download]").first.wait_for(timeout=120_000)  # the run's last update
    monkeypatch.setattr(replays.STORE, "budget", 0)  # the class's newer runs took the room: this run's frames go
    replays.STORE.keep(("another visitor", "unconditional"), [])
    replay = tab.get_by_label("number input for Replay: step")
    replay.fill("2")
    replay.press("Enter")
    page.wait_for_selector("#unconditional-status:has-text('no longer kept')", timeout=30_000)
    Path(ARTIFACTS).mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "replay-dropped.png"), full_page=True)
    monkeypatch.setattr(replays.STORE, "budget", 2**30)
    tab.get_by_role("button", name="Generate").click()
    page.locator("#unconditional-status:has-text('Done')").wait_for(timeout=120_000)
    # ask again until answered: a replay asked for before the run's last update (its files) comes is answered, then
    # that update's Done is shown over it (a fast run: seen once in a full CI run)
    for _ in range(20):
        for step in ("1", "2"):
            replay.fill(step)
            replay.press("Enter")
        try:
            page.wait_for_selector("#unconditional-status:has-text('Step 2 / 8')", timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: ask again
            continue
    page.wait_for_selector("#unconditional-status:has-text('Step 2 / 8')", timeout=30_000)
    page.close()


def test_a_pixel_bomb_in_super_resolution_gets_a_message_and_the_page_keeps_working(
    app_url: str, browser, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("L", (11_000, 11_000)).save(bomb, optimize=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.get_by_role("tab", name="Super-resolution").click()
    tab = page.locator("#super-resolution-tab")
    tab.locator("input[type=file]").first.set_input_files(str(bomb))
    tab.get_by_role("button", name="Generate").click()
    page.wait_for_selector("text=too large to open safely", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "pixel-bomb-refused.png"), full_page=True)
    page.get_by_role("tab", name="Unconditional").click()
    tab = page.locator("#unconditional-tab")
    set_steps(tab, 3)
    tab.get_by_role("button", name="Generate").click()
    page.locator("#unconditional-status:has-text('Done')").wait_for(timeout=120_000)
    page.close()
