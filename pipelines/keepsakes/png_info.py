"""Settings saved in every result PNG, in the text AUTOMATIC1111's web UI writes, and read back into a tab.

    text = parameters_text({"task": "text_to_image", "model": "shapes-sd", "prompt": "a red circle", ...})
    png_with_parameters(image, text, "result.png")  # a `parameters` text chunk, as A1111 saves it
    task, inputs, notices = settings_for_tab(parse_parameters(read_parameters("result.png")))  # a1111_text's parser

The text is A1111's, read and written by `a1111_text` (a value that starts with a quote or a space is quoted too,
which A1111's reader would change). The settings both tools have go under A1111's labels (Steps, Sampler, CFG
scale, Seed, Size, Model, Denoising strength, Eta, Inpaint area, Batch size), this app's own under its own (Task,
Seeds, Noise level, Back-projection, Soft mask, Guidance target; a Compare grid's Guidance scales, Strengths,
Samplers, Grid task): each tool reads what it knows from the other's files. A grid's PNG holds its shared settings,
each cell's own (the scales, strengths or samplers, in the cells' order) and each image's seed; PNG info puts them
back into the Compare tab.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from pipelines.defaults.schedulers import SCHEDULERS
from pipelines.keepsakes.a1111_text import quote

PARAMETERS_KEY = "parameters"  # the PNG text chunk A1111 writes and reads
TAB_TITLES = {
    "unconditional": "Unconditional",
    "text_to_image": "Text to image",
    "inpainting": "Inpainting",
    "image_to_image": "Image to image",
    "super_resolution": "Super-resolution",
    "classifier_guidance": "Classifier guidance",
    "guidance_sweep": "Compare (guidance sweep)",
    "strength_sweep": "Compare (strength sweep)",
    "sampler_comparison": "Compare (sampler comparison)",
}
# Each tab's inputs a PNG restores, named as its handler's parameters (handlers.run_<task>).
TAB_SETTINGS = {
    "unconditional": (
        "model",
        "scheduler",
        "steps",
        "seed",
        "batch_size",
    ),
    "text_to_image": (
        "model",
        "prompt",
        "negative_prompt",
        "guidance_scale",
        "scheduler",
        "steps",
        "seed",
        "batch_size",
    ),
    "inpainting": (
        "model",
        "prompt",
        "negative_prompt",
        "strength",
        "zoom",
        "guidance_scale",
        "scheduler",
        "steps",
        "seed",
        "soft_mask",
    ),
    "image_to_image": (
        "model",
        "prompt",
        "negative_prompt",
        "strength",
        "guidance_scale",
        "scheduler",
        "steps",
        "seed",
    ),
    "super_resolution": (
        "model",
        "scheduler",
        "steps",
        "eta",
        "seed",
        "prompt",
        "guidance_scale",
        "noise_level",
        "consistent",
        "samples",
    ),
    "classifier_guidance": (
        "target",
        "guidance_scale",
        "seed",
        "batch_size",
    ),
    "guidance_sweep": (
        "model",
        "prompt",
        "seed",
        "scales",
        "scheduler",
        "steps",
    ),
    "strength_sweep": (
        "model",
        "prompt",
        "seed",
        "strengths",
        "scheduler",
        "steps",
    ),
    "sampler_comparison": (
        "grid_task",
        "model",
        "prompt",
        "seed",
        "samplers",
    ),
}
PARAMETER_NAMES = {"grid_task": "task"}  # settings whose handler parameter has another name (not the file's Task)
# The tabs with a "Random seed" box.
RANDOM_SEED_TABS = ("unconditional", "text_to_image", "inpainting", "image_to_image", "super_resolution")

NOT_IN_THE_PNG = {  # a tab's image inputs, which the user loads again; a grid's times, measured again
    "inpainting": "the image and its mask: load the image and paint the mask again",
    "image_to_image": "the drawing or image: draw or upload it again",
    "super_resolution": "the photo: upload it again",
    "guidance_sweep": "each cell's time, measured again when the grid runs (its images come out the same)",
    "sampler_comparison": "each cell's time, measured again when the grid runs (its images come out the same)",
    "strength_sweep": "the input, upload it again; each cell's time, measured again when the grid runs (its images "
    "come out the same)",
}
PROMPT_LABELS = {"prompt": "Prompt", "negative_prompt": "Negative prompt"}
# Parameter -> label, in the order written: A1111's labels in A1111's order, then this app's.
LABELS = {
    "steps": "Steps",
    "scheduler": "Sampler",
    "guidance_scale": "CFG scale",
    "seed": "Seed",
    "size": "Size",
    "model": "Model",
    "strength": "Denoising strength",
    "eta": "Eta",
    "zoom": "Inpaint area",
    "noise_level": "Noise level",
    "consistent": "Back-projection",
    "soft_mask": "Soft mask",
    "target": "Guidance target",
    "task": "Task",
    "batch_size": "Batch size",
    "seeds": "Seeds",
    "grid_task": "Grid task",
    "scales": "Guidance scales",
    "strengths": "Strengths",
    "samplers": "Samplers",
    "samples": "Samples averaged",
}
INPAINT_AREA = {True: "Only masked", False: "Whole picture"}  # A1111's words for zooming into the mask or not
# Settings added after files were made: what such a file's run used (the app drew one sample before it averaged them).
BEFORE_THE_SETTING = {"samples": 1}
INFORMATIVE = ("Task", "Size", "Seeds")  # written for people and other tools; the tab's inputs imply them
FIXED = {"sampler_comparison": ("CFG scale",)}  # a tab's settings that are no inputs (text to image's guidance)
# A1111's sampler names for this app's schedulers (diffusers' documented equivalents); the same names elsewhere.
A1111_SAMPLERS = {"Euler a": "Euler ancestral", "DPM++ 2M": "DPM-Solver++", "DPM++ 2M SDE": "DPM-Solver++ SDE"}


def format_value(name: str, value: object) -> str:
    """A setting as written: whole floats without ".0" (as "CFG scale: 5"), other floats exactly (repr)."""
    if name == "zoom":
        return INPAINT_AREA[bool(value)]
    if name == "size":
        width, height = value
        return f"{width}x{height}"
    if name == "seeds":
        return ", ".join(str(seed) for seed in value)
    if isinstance(value, float) and not isinstance(value, bool):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def parameters_text(settings: Mapping[str, object]) -> str:
    """A run's settings in A1111's text: a task's handler parameters ("model", "prompt", "steps", ...) plus
    "task", the images' "size" (width, height) and, for a grid, each image's seed ("seeds"). Empty ones are left out."""
    unknown = set(settings) - set(LABELS) - set(PROMPT_LABELS)
    if unknown:
        raise ValueError(f"No label for the setting(s) {', '.join(sorted(unknown))}; known: {', '.join(LABELS)}.")
    pairs = [
        f"{label}: {quote(format_value(name, settings[name]))}"
        for name, label in LABELS.items()
        if settings.get(name) not in (None, "")
    ]
    negative_prompt = settings.get("negative_prompt") or ""
    negative_line = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{settings.get('prompt') or ''}{negative_line}\n{', '.join(pairs)}".strip()


def png_with_parameters(image: np.ndarray | Image.Image, text: str, path: str | Path) -> Path:
    """Save `image` as a PNG at `path` with `text` in a `parameters` chunk (tEXt; iTXt if it is not Latin-1)."""
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, text)
    picture = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    picture.save(path, format="PNG", pnginfo=info)
    return Path(path)


def user_comment(raw: bytes | str) -> str | None:
    """An EXIF UserComment as text: A1111 writes its parameters there in JPEG and WebP files (piexif's encoding)."""
    if isinstance(raw, str):
        return raw
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        return body.decode("utf-16-be", errors="replace")
    if prefix in (b"ASCII\0\0\0", b"\0" * 8):
        return body.decode("ascii", errors="replace")
    return None


def read_parameters(image: str | Path | Image.Image) -> str | None:
    """The `parameters` text of an image file (PNG text chunk, or A1111's EXIF UserComment), None if it has none."""
    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            return read_parameters(opened)
    if PARAMETERS_KEY not in image.info:
        image.load()  # text chunks after the image data are read with it
    text = image.info.get(PARAMETERS_KEY)
    if isinstance(text, str):
        return text
    comment = image.getexif().get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.UserComment)
    return user_comment(comment) if comment else None


def finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def truth(text: str) -> bool:
    return {"True": True, "False": False}[text]


READERS: dict[str, Callable[[str], object]] = {
    "steps": int,
    "seed": int,
    "batch_size": int,
    "noise_level": int,
    "samples": int,
    "guidance_scale": finite,
    "strength": finite,
    "eta": finite,
    "zoom": {area: zoom for zoom, area in INPAINT_AREA.items()}.__getitem__,
    "consistent": truth,
    "soft_mask": truth,
    "target": str,
    "model": str,
    "scheduler": str,
    "prompt": str,
    "negative_prompt": str,
    "grid_task": str,
    "scales": str,  # a grid's lists are read when it runs, with their own messages
    "strengths": str,
    "samplers": str,
}


def guess_task(parsed: Mapping[str, str]) -> str:
    """The tab for a file without "Task" (another tool's): A1111 writes "Mask blur" for inpainting only, and
    "Denoising strength" for img2img and for txt2img's hires fix (which also writes "Hires upscale")."""
    if "Mask blur" in parsed:
        return "inpainting"
    return "image_to_image" if "Denoising strength" in parsed and "Hires upscale" not in parsed else "text_to_image"


def sampler(value: str, schedule_type: str | None) -> tuple[str | None, str | None]:
    """This app's scheduler for a sampler name (its own or A1111's), and what could not be kept of it."""
    name = value.removesuffix(" Karras")  # A1111 before 1.9 wrote the schedule into the sampler's name
    karras = name != value or schedule_type == "Karras"
    name = A1111_SAMPLERS.get(name, name)
    if name not in SCHEDULERS:
        return None, f"Sampler '{value}': this app has {', '.join(SCHEDULERS)}"
    if karras:
        return name, f"Karras sigmas of '{value}': the {name} scheduler here keeps the model's own timestep schedule"
    if schedule_type not in (None, "Automatic"):
        return name, f"Schedule type '{schedule_type}': this app keeps each model's own timestep schedule"
    return name, None


def settings_for_tab(
    parsed: Mapping[str, str], models: Mapping[str, Collection[str]] | None = None
) -> tuple[str, dict[str, object], list[str]]:
    """The tab a parsed text belongs to, its inputs to restore (by handler parameter name; "Random seed" off
    with the seed) and notices of what was restored and what not. `models`: each task's models this app may
    load (any model if None). Raises ValueError for a "Task" this app has no tab for."""
    task = parsed.get("Task") or guess_task(parsed)
    if task not in TAB_SETTINGS:
        raise ValueError(f"The file's task '{task}' is not a tab of this app (tasks: {', '.join(TAB_SETTINGS)}).")
    inputs: dict[str, object] = {}
    restored, not_restored, left = [], [], []
    used = {"Prompt", "Negative prompt", "Schedule type", *FIXED.get(task, ())}
    used.update(INFORMATIVE if "Task" in parsed else ())
    for name in TAB_SETTINGS[task]:
        label = PROMPT_LABELS.get(name) or LABELS[name]
        used.add(label)
        if label not in parsed and name in BEFORE_THE_SETTING and "Task" in parsed:
            inputs[name] = BEFORE_THE_SETTING[name]  # this app's own file from before the setting existed
            restored.append(f"{label} {BEFORE_THE_SETTING[name]} (not in the file: made before the setting)")
            continue
        if label not in parsed:
            left.append(label)
            continue
        text = parsed[label]
        try:
            value = READERS[name](text)
        except (ValueError, KeyError):
            not_restored.append(f"{label} '{text}': not a value this app reads")
            continue
        if name == "scheduler":
            value, notice = sampler(text, parsed.get("Schedule type"))
            not_restored += [notice] if notice else []
            if value is None:
                continue
        if name == "model" and models is not None and value not in models.get(task, ()):
            not_restored.append(f"Model '{value}': the {TAB_TITLES[task]} tab has {', '.join(models.get(task, ()))}")
            continue
        inputs[PARAMETER_NAMES.get(name, name)] = value
        restored.append(label)
    if "seed" in inputs and task in RANDOM_SEED_TABS:
        inputs["random_seed"] = False  # the seed of the file, not a new random one
    for label in PROMPT_LABELS.values():
        if parsed.get(label) and label not in restored:
            not_restored.append(f"{label}: the {TAB_TITLES[task]} tab takes none")
    others = [f"{label} {value}" for label, value in parsed.items() if label not in used]
    if others:
        not_restored.append(f"{', '.join(others)}: settings the {TAB_TITLES[task]} tab does not have")
    return task, inputs, restoration_notices(task, "Task" in parsed, restored, not_restored, left)


def restored_parameters(task: str) -> tuple[str, ...]:
    """The handler parameters of tab `task` that a PNG's settings fill (none for a task without a tab)."""
    names = tuple(PARAMETER_NAMES.get(name, name) for name in TAB_SETTINGS.get(task, ()))
    return names + ("random_seed",) * (task in RANDOM_SEED_TABS)


def restoration_notices(
    task: str, own_file: bool, restored: list[str], not_restored: list[str], left: list[str]
) -> list[str]:
    title = TAB_TITLES[task]
    notices = [f"Restored into {title}: {', '.join(restored) or 'nothing'}."]
    if not own_file:
        notices.append(
            f"The file names no Task (another tool's, such as AUTOMATIC1111's web UI?): read as {title}. The same "
            "settings give another image here: other weights, sampler code and noise."
        )
    notices += [f"Not restored: {item}." for item in not_restored]
    if task in NOT_IN_THE_PNG:
        notices.append(f"Not in the PNG: {NOT_IN_THE_PNG[task]}.")
    if left:
        notices.append(f"Not in the file, left as they are: {', '.join(left)}.")
    return notices
