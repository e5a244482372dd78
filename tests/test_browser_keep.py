"""In Chromium: a run's animation downloads as an animated WebP, its result image carries its settings, and the
PNG info tab reads a PNG and restores its settings into their tab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import ARTIFACTS
from PIL import Image
from playwright.sync_api import expect

from pipelines.keepsakes.png_info import parameters_text, png_with_parameters, read_parameters

TEXT_TO_IMAGE = {
    "model": "shapes-sd",
    "prompt": "a small blue square, on the top",
    "negative_prompt": "red",
    "guidance_scale": 9.5,
    "scheduler": "DDIM",
    "steps": 7,
    "seed": 1234,
    "batch_size": 1,
}


def test_download_the_animation_then_restore_a_png_into_its_tab(app_url: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    Path(ARTIFACTS).mkdir(exist_ok=True)
    tab = page.locator("#unconditional-tab")
    tab.get_by_label("number input for Steps").fill("5")
    tab.get_by_label("number input for Steps").press("Enter")
    tab.get_by_role("button", name="Generate").click()
    expect(page.locator("#unconditional-status")).to_contain_text("Done", timeout=120_000)

    with page.expect_download(timeout=60_000) as download:
        page.locator("#unconditional-animation a[download]").first.click()
    animation = tmp_path / download.value.suggested_filename
    download.value.save_as(animation)
    with Image.open(animation) as animated:
        assert animation.name.endswith("-trajectory.webp") and animated.is_animated and animated.n_frames == 5
    shown = page.locator("#unconditional-result img").first.get_attribute("src")
    (tmp_path / "result.png").write_bytes(page.request.get(shown).body())  # the bytes the page shows
    page.screenshot(path=str(ARTIFACTS / "unconditional-keepsakes.png"), full_page=True)
    assert "Steps: 5, Sampler: DPM-Solver++ SDE" in read_parameters(tmp_path / "result.png")

    text = parameters_text({"task": "text_to_image", **TEXT_TO_IMAGE, "size": (32, 32)})
    png = png_with_parameters(np.zeros((32, 32, 3), dtype=np.uint8), text, tmp_path / "made-here.png")
    page.get_by_role("tab", name="PNG info").click()
    page.locator("#png-info-image input[type=file]").set_input_files(str(png))
    expect(page.locator("#png-info-text textarea")).to_have_value(text, timeout=30_000)
    expect(page.locator("#png-info-notices")).to_contain_text("Restored into Text to image")
    page.screenshot(path=str(ARTIFACTS / "png-info.png"), full_page=True)
    page.get_by_role("button", name="Restore these settings into their tab").click()

    expect(page.get_by_role("tab", name="Text to image")).to_have_attribute("aria-selected", "true", timeout=30_000)
    restored = page.locator("#text-to-image-tab")
    expect(restored.get_by_label("Prompt", exact=True)).to_have_value(TEXT_TO_IMAGE["prompt"])
    expect(restored.get_by_label("Negative prompt")).to_have_value("red")
    expect(restored.get_by_label("number input for Guidance scale")).to_have_value("9.5")
    expect(restored.get_by_label("number input for Steps")).to_have_value("7")
    expect(restored.get_by_role("spinbutton", name="Seed")).to_have_value("1234")
    expect(restored.get_by_role("checkbox", name="Random seed")).not_to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "png-info-restored.png"), full_page=True)
    assert not errors, errors
    page.close()
