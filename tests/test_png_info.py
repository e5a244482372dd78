"""pipelines/keepsakes/png_info.py: settings written into PNGs in AUTOMATIC1111's text, read back and restored into
a tab."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from pipelines.keepsakes.a1111_text import parse_parameters
from pipelines.keepsakes.png_info import (
    PARAMETER_NAMES,
    PARAMETERS_KEY,
    TAB_SETTINGS,
    parameters_text,
    png_with_parameters,
    read_parameters,
    restored_parameters,
    settings_for_tab,
)

# One run of each tab, as its handler was called (seed resolved, steps whole), floats that print long included.
TAB_RUNS = {
    "unconditional": {"model": "shapes-ddpm", "scheduler": "DPM-Solver++ SDE", "steps": 50, "seed": 7, "batch_size": 4},
    "text_to_image": {
        "model": "shapes-sd",
        "prompt": "a large red circle on the left",
        "negative_prompt": "blue",
        "guidance_scale": 7.25,
        "scheduler": "Euler ancestral",
        "steps": 25,
        "seed": 4294967287,
        "batch_size": 2,
    },
    "inpainting": {
        "model": "shapes-sd",
        "prompt": "a green triangle",
        "negative_prompt": "",
        "strength": 0.1 + 0.2,  # 0.30000000000000004: written exactly, not rounded
        "zoom": True,
        "guidance_scale": 5.0,
        "scheduler": "DDIM",
        "steps": 10,
        "seed": 0,
        "soft_mask": True,
    },
    "image_to_image": {
        "model": "shapes-ddpm",
        "prompt": "",
        "negative_prompt": "",
        "strength": 0.55,
        "guidance_scale": 5.0,
        "scheduler": "DPM-Solver++ SDE",
        "steps": 50,
        "seed": 12,
    },
    "super_resolution": {
        "model": "photo-sr-4x",
        "scheduler": "DDIM",
        "steps": 20,
        "eta": 0.35,
        "seed": 3,
        "prompt": "",
        "guidance_scale": 5.0,
        "noise_level": 20,
        "consistent": False,
        "samples": 4,
    },
}
PICTURE = np.arange(24 * 16 * 3, dtype=np.uint8).reshape(24, 16, 3)


@pytest.mark.parametrize("task", list(TAB_RUNS))
def test_every_tab_round_trips_exactly_through_a_png(task: str, tmp_path: Path) -> None:
    settings = TAB_RUNS[task]
    batch_size = settings.get("batch_size", 1)
    seeds = list(range(settings["seed"], settings["seed"] + batch_size)) if batch_size > 1 else None
    text = parameters_text({"task": task, **settings, "size": (16, 24), "seeds": seeds})
    path = png_with_parameters(PICTURE, text, tmp_path / "result.png")

    assert read_parameters(path) == text
    np.testing.assert_array_equal(np.asarray(Image.open(path)), PICTURE)  # the pixels are untouched
    parsed = parse_parameters(text)
    assert parsed["Task"] == task and parsed["Size"] == "16x24"
    restored_task, inputs, notices = settings_for_tab(parsed)
    assert restored_task == task and set(TAB_SETTINGS[task]) == set(settings)
    assert inputs == {**settings, "random_seed": False}
    assert all(type(inputs[name]) is type(value) for name, value in settings.items())
    assert notices[0].startswith("Restored into") and not any("Not restored" in notice for notice in notices)


# A Compare grid of each panel, as its handler wrote it (compare.grid_png): the sampler comparison's task is
# written as "Grid task" (the file's "Task" is the panel) and goes back to the handler's `task`.
GRID_RUNS = {
    "guidance_sweep": {
        "model": "shapes-sd",
        "prompt": "a red circle, on the left",
        "seed": 3,
        "scales": "1, 2.5, 16",
        "scheduler": "DDIM",
        "steps": 25,
    },
    "strength_sweep": {
        "model": "shapes-ddpm",
        "prompt": "",
        "seed": 5,
        "strengths": "0.2, 0.6, 1",
        "scheduler": "DPM-Solver++ SDE",
        "steps": 50,
    },
    "sampler_comparison": {
        "grid_task": "Text to image",
        "model": "shapes-sd",
        "prompt": "a blue square",
        "seed": 4,
        "samplers": "DDPM 500, DDIM 10",
        "guidance_scale": 5.0,  # each cell's, the tab's default: written, not an input
    },
}


@pytest.mark.parametrize("task", list(GRID_RUNS))
def test_a_grid_png_holds_each_cells_settings_and_seed_and_restores_the_compare_tab(task: str) -> None:
    settings = GRID_RUNS[task]
    seed = settings["seed"]
    text = parameters_text({"task": task, **settings, "size": (32, 32), "seeds": [seed] * 3})
    parsed = parse_parameters(text)
    assert parsed["Seeds"] == f"{seed}, {seed}, {seed}" and parsed["Size"] == "32x32"
    restored_task, inputs, notices = settings_for_tab(parsed)
    written = {PARAMETER_NAMES.get(name, name): value for name, value in settings.items() if name != "guidance_scale"}
    assert restored_task == task and inputs == written  # no "random_seed": the Compare tab has no such box
    assert set(inputs) == set(restored_parameters(task))
    assert notices[0].startswith("Restored into Compare (") and not any("Not restored" in n for n in notices)
    assert notices[-1].startswith("Not in the PNG: ") and notices[-1].endswith(
        "each cell's time, measured again when the grid runs (its images come out the same)."
    )


def test_a_guidance_sweep_grid_text_word_for_word() -> None:
    text = parameters_text(
        {"task": "guidance_sweep", **GRID_RUNS["guidance_sweep"], "size": (32, 32), "seeds": [3, 3, 3]}
    )
    assert text == (
        "a red circle, on the left\nSteps: 25, Sampler: DDIM, Seed: 3, Size: 32x32, Model: shapes-sd, "
        'Task: guidance_sweep, Seeds: "3, 3, 3", Guidance scales: "1, 2.5, 16"'
    )


def test_the_text_is_a1111s_format_word_for_word() -> None:
    text = parameters_text(
        {
            "task": "text_to_image",
            "model": "shapes-sd",
            "prompt": "a red circle",
            "negative_prompt": "a blue square",
            "guidance_scale": 5.0,
            "scheduler": "DPM-Solver++",
            "steps": 25,
            "seed": 0,
            "batch_size": 4,
            "size": (32, 32),
            "seeds": [0, 1, 2, 3],
        }
    )
    assert text == (
        "a red circle\nNegative prompt: a blue square\nSteps: 25, Sampler: DPM-Solver++, CFG scale: 5, Seed: 0, "
        'Size: 32x32, Model: shapes-sd, Task: text_to_image, Batch size: 4, Seeds: "0, 1, 2, 3"'
    )
    unconditional = parameters_text({"task": "unconditional", "model": "shapes-ddpm", "steps": 3, "seed": 1})
    assert unconditional == "Steps: 3, Seed: 1, Model: shapes-ddpm, Task: unconditional"  # no prompt line at all


@pytest.mark.parametrize(
    "model, written_as",
    [
        ("C:\\models\\shapes", '"C:\\\\models\\\\shapes"'),  # a colon: a JSON string, as A1111 quotes it
        ("shapes, v2", '"shapes, v2"'),
        ('"shapes"', '"\\"shapes\\""'),  # a leading quote A1111 would strip when reading: quoted
        (" shapes", '" shapes"'),  # a leading space A1111 would lose
        ("formes-é", "formes-é"),  # no JSON escapes for non-ASCII (ensure_ascii=False, as A1111)
    ],
)
def test_values_that_need_quotes_round_trip(model: str, written_as: str) -> None:
    text = parameters_text({"task": "unconditional", "model": model, "scheduler": "DDIM", "steps": 3, "seed": 1})
    assert f"Model: {written_as}, Task" in text
    assert settings_for_tab(parse_parameters(text))[1]["model"] == model


@pytest.mark.parametrize(
    "prompt, negative_prompt",
    [
        ("a red circle, small: on the left", "blue, green: none"),  # prompt lines are never quoted
        ("first line\nsecond line", "one\ntwo\nthree"),
        ("", "only a negative prompt"),
        ("ein Kreis “rund” ⭕", ""),  # not Latin-1: an iTXt chunk
    ],
)
def test_prompts_of_several_lines_and_any_characters_round_trip(
    prompt: str, negative_prompt: str, tmp_path: Path
) -> None:
    settings = {**TAB_RUNS["text_to_image"], "prompt": prompt, "negative_prompt": negative_prompt}
    text = parameters_text({"task": "text_to_image", **settings})
    path = png_with_parameters(Image.fromarray(PICTURE), text, tmp_path / "prompt.png")
    assert (b"iTXt" in path.read_bytes()) == (not prompt.isascii())
    task, inputs, _ = settings_for_tab(parse_parameters(read_parameters(path)))
    assert inputs["prompt"] == prompt and inputs["negative_prompt"] == negative_prompt


A1111_TEXT = """masterpiece, best quality, a castle on a hill
Negative prompt: lowres, bad anatomy, (worst quality:1.4)
Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 965400086, Size: 512x768, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, Lora hashes: "detail: 7c6bad76eb54", RNG: CPU"""


def test_an_a1111_file_of_another_model_restores_what_this_app_has_and_says_what_not(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, A1111_TEXT)
    Image.fromarray(PICTURE).save(tmp_path / "a1111.png", pnginfo=info)  # as A1111 saves it

    parsed = parse_parameters(read_parameters(tmp_path / "a1111.png"))
    assert parsed["Lora hashes"] == "detail: 7c6bad76eb54"  # A1111's quoting read back
    task, inputs, notices = settings_for_tab(parsed, models={"text_to_image": ["shapes-sd"]})
    assert task == "text_to_image"
    assert inputs == {
        "prompt": "masterpiece, best quality, a castle on a hill",
        "negative_prompt": "lowres, bad anatomy, (worst quality:1.4)",
        "guidance_scale": 7.0,
        "scheduler": "DPM-Solver++",  # A1111's "DPM++ 2M"
        "steps": 30,
        "seed": 965400086,
        "random_seed": False,
    }
    text = "\n".join(notices)
    assert "Restored into Text to image: Prompt, Negative prompt, CFG scale, Sampler, Steps, Seed." in text
    assert "Model 'v1-5-pruned-emaonly': the Text to image tab has shapes-sd" in text
    assert "Karras sigmas of 'DPM++ 2M'" in text and "another image here" in text
    assert "Size 512x768, Model hash 6ce0161689, Clip skip 2, Lora hashes detail: 7c6bad76eb54, RNG CPU" in text
    assert "Not in the file, left as they are: Batch size." in text


def test_a1111_inpainting_old_sampler_names_and_unknown_samplers() -> None:
    text = (
        "a cat\nSteps: 20, Sampler: Euler a Karras, CFG scale: 7.5, Seed: 1, Size: 512x512, Denoising strength: 0.75, "
        "Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32"
    )
    task, inputs, notices = settings_for_tab(parse_parameters(text))
    assert task == "inpainting" and inputs["scheduler"] == "Euler ancestral" and inputs["zoom"] is True
    assert inputs["strength"] == 0.75 and inputs["guidance_scale"] == 7.5
    assert "Not in the PNG: the image and its mask" in "\n".join(notices)

    _, inputs, notices = settings_for_tab(parse_parameters(A1111_TEXT.replace("DPM++ 2M", "LMS")))
    assert "scheduler" not in inputs and "Sampler 'LMS': this app has DPM-Solver++," in "\n".join(notices)


def test_a1111_img2img_goes_to_image_to_image_and_hires_fix_to_text_to_image() -> None:
    img2img = "a cat\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 2, Size: 512x512, Denoising strength: 0.45"
    task, inputs, notices = settings_for_tab(parse_parameters(img2img))
    assert task == "image_to_image" and inputs["strength"] == 0.45 and inputs["prompt"] == "a cat"
    assert "Not in the PNG: the drawing or image: draw or upload it again." in notices
    hires = img2img + ", Hires upscale: 2, Hires upscaler: Latent"
    assert settings_for_tab(parse_parameters(hires))[0] == "text_to_image"


def test_unreadable_values_are_left_out_with_a_notice_and_the_rest_restored() -> None:
    text = "Steps: many, Sampler: DDIM, Seed: 1.5, Model: shapes-ddpm, Task: unconditional, Batch size: 2"
    task, inputs, notices = settings_for_tab(parse_parameters(text))
    assert inputs == {"scheduler": "DDIM", "model": "shapes-ddpm", "batch_size": 2}
    assert "Not restored: Steps 'many': not a value this app reads." in notices


def test_an_unknown_task_is_refused_with_the_tabs_named() -> None:
    with pytest.raises(ValueError, match="'painting' is not a tab of this app .*unconditional, text_to_image"):
        settings_for_tab(parse_parameters("Steps: 3, Seed: 1, Model: x, Task: painting"))


def test_a_text_without_a_parameters_line_is_all_prompt() -> None:
    parsed = parse_parameters("a red circle\nNegative prompt: blue, Steps: 3")
    assert parsed == {"Prompt": "a red circle", "Negative prompt": "blue, Steps: 3"}


def test_a_png_without_parameters_reads_none(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("Software", "another tool")
    Image.fromarray(PICTURE).save(tmp_path / "plain.png", pnginfo=info)
    assert read_parameters(tmp_path / "plain.png") is None
    Image.fromarray(PICTURE).save(tmp_path / "bare.png")
    assert read_parameters(tmp_path / "bare.png") is None


def test_a1111_jpeg_parameters_are_read_from_exif(tmp_path: Path) -> None:
    exif = Image.Exif()
    # piexif's UserComment encoding, as A1111 writes JPEG and WebP files
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = b"UNICODE\0" + A1111_TEXT.encode("utf-16-be")
    Image.fromarray(PICTURE).save(tmp_path / "a1111.jpg", exif=exif)
    assert read_parameters(tmp_path / "a1111.jpg") == A1111_TEXT


def test_unknown_settings_are_refused_when_written() -> None:
    with pytest.raises(ValueError, match="No label for the setting"):
        parameters_text({"task": "unconditional", "colour": "red"})


def test_a_super_resolution_file_from_before_samples_were_averaged_restores_one_sample() -> None:
    settings = {name: value for name, value in TAB_RUNS["super_resolution"].items() if name != "samples"}
    parsed = parse_parameters(parameters_text({"task": "super_resolution", **settings, "size": (16, 24)}))
    assert "Samples averaged" not in parsed
    _, inputs, notices = settings_for_tab(parsed)
    assert inputs["samples"] == 1 and "Samples averaged 1 (not in the file: made before the setting)" in notices[0]
    assert not any("left as they are" in notice for notice in notices)
