"""What a run leaves to take home, as the app's events see it: the files of a run's last update, and the
PNG info box that puts a PNG's settings back into its tab.

`kept` is called by `stream.stream_frames` at the end of every run: the result as shown becomes a PNG
file carrying the run's settings (Gradio serves a file path as it is; an array it would encode again,
without them), beside the trajectory animation and the contact sheet (`pipelines.keepsakes`). `png_info`
is the box's API (`/png_info`, parameter `image`); `restorer` makes its Restore button's handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import gradio as gr
import numpy as np

from pipelines import catalogue, inpainting, super_resolution, text_to_image, unconditional
from pipelines.frames import Frame, LatentFrame
from pipelines.keepsakes import keepsakes
from pipelines.png_info import parse_parameters, read_parameters, restored_parameters, settings_for_tab

TASK_MODULES = {
    "unconditional": unconditional,
    "text_to_image": text_to_image,
    "inpainting": inpainting,
    "super_resolution": super_resolution,
}
NO_SETTINGS = (
    "This image carries no settings: it has no `parameters` text (made by another program, or saved again by "
    "one that drops it). Results downloaded from this app and from AUTOMATIC1111's web UI carry theirs."
)


def kept(
    task: str, settings: Mapping[str, object], frames: Sequence[Frame | LatentFrame], shown: object
) -> tuple[object, str | None, str | None]:
    """The result to show, its image written as a PNG with `settings` (of a before/after pair, the after one),
    then the paths of the trajectory animation and the contact sheet. `shown` is None for a stopped run (no
    result). A file that cannot be written is a warning, not a failed run."""
    pair = isinstance(shown, tuple)
    image = shown[-1] if pair else shown
    try:
        files = keepsakes(task, settings, frames, None if image is None else np.asarray(image))
    except OSError as error:
        gr.Warning(f"The run's files could not be written ({error}); the result is shown without them.")
        return shown, None, None
    if files.png is not None:
        shown = (*shown[:-1], str(files.png)) if pair else str(files.png)
    return shown, str(files.animation), str(files.sheet)


def catalogue_models() -> dict[str, list[str]]:
    """Each task's models this app loads: a PNG's model is restored only if it is one of them (a Compare grid's:
    those of the tasks it compares)."""
    models = {
        task: [name for _, name in catalogue.choices(module.PIPELINE_CLASSES)] for task, module in TASK_MODULES.items()
    }
    return {
        **models,
        "guidance_sweep": models["text_to_image"],
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
    try:
        task, inputs, notices = settings_for_tab(parse_parameters(text), catalogue_models())
    except ValueError as error:
        return text, str(error), None
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
