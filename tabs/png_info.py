"""The "PNG info" tab: read the settings a PNG carries (AUTOMATIC1111's `parameters` text) and put them back into
their tab, where Generate makes the same image again.

`png_info` is the box's API (`/png_info`, parameter `image`); `restorer` makes its Restore button's handler. The
tab restores into the other tabs' inputs, which `app.py` hands to `build()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import gradio as gr

from pipelines import defaults
from pipelines.engine import catalogue
from pipelines.keepsakes.a1111_text import MAX_PARAMETERS_CHARACTERS, parse_parameters
from pipelines.keepsakes.png_info import read_parameters, restored_parameters, settings_for_tab
from ui.components import checked

TITLE, ID = "PNG info", "png-info"
EXPLANATION = """
Every result this app serves is a PNG that carries its settings in a `parameters` text, as AUTOMATIC1111's web UI
writes them. Drop one here (or one of AUTOMATIC1111's) to read them; **Restore** puts them into their tab, where
Generate makes the same image again (inpainting, image to image and super-resolution: load the image, drawing or
photo again); a Compare grid's go back into the Compare tab, with each cell's scale or sampler, and make the same grid
again.
"""
TASK_MODULES = {
    "unconditional": defaults.unconditional,
    "text_to_image": defaults.text_to_image,
    "inpainting": defaults.inpainting,
    "image_to_image": defaults.image_to_image,
    "super_resolution": defaults.super_resolution,
}
NO_SETTINGS = (
    "This image carries no settings: it has no `parameters` text (made by another program, or saved again by "
    "one that drops it). Results downloaded from this app and from AUTOMATIC1111's web UI carry theirs."
)


def catalogue_models() -> dict[str, list[str]]:
    """Each task's models this app loads: a PNG's model is restored only if it is one of them (a Compare grid's:
    those of the tasks it compares)."""
    models = {
        task: [name for _, name in catalogue.choices(module.PIPELINE_CLASSES)] for task, module in TASK_MODULES.items()
    }
    return {
        **models,
        "guidance_sweep": models["text_to_image"],
        "strength_sweep": models["image_to_image"],
        "sampler_comparison": models["unconditional"] + models["text_to_image"],
    }


def png_info(image: str | None) -> tuple[str, str, dict | None]:
    """The PNG info box: an image's `parameters` text, what restoring it does (Markdown), and the settings
    to restore ({"task", "inputs": by handler parameter name, "notices"}; None if there are none)."""
    if not image:
        return "", "", None
    text = read_parameters(image)
    if text is None:
        return "", NO_SETTINGS, None
    cut = []
    if len(text) > MAX_PARAMETERS_CHARACTERS:  # nobody's settings are this long: read the start, say so
        cut = [
            f"The parameters text has {len(text):,} characters; only its first {MAX_PARAMETERS_CHARACTERS:,} were read."
        ]
        text = text[:MAX_PARAMETERS_CHARACTERS]
    try:
        task, inputs, notices = settings_for_tab(parse_parameters(text), catalogue_models())
    except ValueError as error:
        return text, "\n".join([*cut, str(error)]), None
    notices = cut + notices
    return text, "\n".join(f"- {notice}" for notice in notices), {"task": task, "inputs": inputs, "notices": notices}


def restorer(targets: Sequence[tuple[str, str]], tab_ids: Mapping[str, str]) -> Callable[[dict | None], list[object]]:
    """The Restore button's handler: `found` (from `png_info`) into the inputs `targets` ((task, parameter
    name) of each output, in order), then its tab selected (`tab_ids`: task -> gr.Tab id; the last output is
    the gr.Tabs). The notices come again as toasts, in the tab restored into."""

    def restore(found: dict | None) -> list[object]:
        if not found:
            raise gr.Error("Upload a PNG that carries settings first.")
        task, inputs = found["task"], found["inputs"]
        updates = [
            gr.update(value=inputs[name]) if target_task == task and name in inputs else gr.skip()
            for target_task, name in targets
        ]
        first, *others = found["notices"]
        gr.Info(first)
        for notice in others:
            gr.Warning(notice)
        return [*updates, gr.Tabs(selected=tab_ids[task])]

    return restore


def restore_targets(tab_inputs: Mapping[str, Mapping[str, object]]) -> tuple[list[tuple[str, str]], list]:
    """From each task's inputs by handler parameter name, those a PNG restores: their (task, name), and the
    components themselves (the Restore button's outputs, before the gr.Tabs)."""
    names = [
        (task, name) for task, inputs in tab_inputs.items() for name in inputs if name in restored_parameters(task)
    ]
    return names, [tab_inputs[task][name] for task, name in names]


def build(
    tab_inputs: Mapping[str, Mapping[str, gr.components.Component]], tab_ids: Mapping[str, str], tabs: gr.Tabs
) -> None:
    """The box and its Restore button; call inside its `gr.Tab`. `tab_inputs`: each task's inputs by handler
    parameter name; `tab_ids`: the id of each task's gr.Tab; `tabs`: the gr.Tabs that Restore switches."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        image = checked(
            gr.Image(
                label="PNG with settings",
                type="filepath",  # the file as uploaded: decoded and saved again, it would lose its text
                image_mode=None,
                sources=("upload",),
                height=320,
                elem_classes="pixelated",
                elem_id="png-info-image",
            )
        )
        with gr.Column():
            text = gr.Textbox(label="Parameters", lines=5, interactive=False, elem_id="png-info-text")
            notices = gr.Markdown(elem_id="png-info-notices")
            found = gr.JSON(visible=False)  # the settings Restore puts back
            restore_button = gr.Button("Restore these settings into their tab", variant="primary")
    image.change(png_info, image, [text, notices, found], api_name="png_info")
    restore_names, restore_outputs = restore_targets(tab_inputs)
    restore_button.click(restorer(restore_names, tab_ids), found, [*restore_outputs, tabs], api_visibility="private")
