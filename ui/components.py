"""The app's input and output components, built one way for every tab, each input checked on the server.

A stranger can send anything through the API: `checked` makes an input answer a value it cannot take
with a message naming the parameter and what it takes, and `model_dropdown` lets only the catalogue's
refusal answer a model that is not listed (not Gradio's, which echoes the value).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from PIL import Image, UnidentifiedImageError

from pipelines import defaults
from pipelines.defaults.schedulers import SCHEDULERS
from pipelines.engine import catalogue
from pipelines.engine.images import check_pixels
from ui.replays import FRAMES_KEPT_SECONDS
from ui.stream import MAX_BATCH_SIZE, MAX_SEED

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"  # the shapes scenes and photos


def what_it_takes(component: gr.components.Component) -> str:
    if isinstance(component, gr.Slider):
        return f"a number from {component.minimum:g} to {component.maximum:g}"
    if isinstance(component, gr.Number):
        return "a number"
    if isinstance(component, gr.Checkbox):
        return "true or false"
    if isinstance(component, gr.Dropdown):
        return "one of: " + ", ".join(str(value) for _, value in component.choices)
    return "a value of another kind"


def uploaded_images(component: gr.components.Component, payload: object) -> Iterator[str | bytes]:
    """The files of an image input's payload (an image's file or base64 data; an editor's background, layers and
    composite, or the blobs it stored), as paths or bytes, before Gradio opens any."""
    if isinstance(component, gr.ImageEditor) and getattr(payload, "id", None) is not None:
        payload = component.blob_storage.get(payload.id) or payload  # the canvas sent its layers ahead
    if isinstance(component, gr.ImageEditor):
        files = [getattr(payload, "background", None), *(getattr(payload, "layers", None) or [])]
        files.append(getattr(payload, "composite", None))
    else:
        files = [payload]
    for file in files:
        if isinstance(file, bytes | bytearray | memoryview):
            yield bytes(file)
        elif (url := getattr(file, "url", None) or "").startswith("data:"):
            yield base64.b64decode(url.partition(",")[2])
        elif getattr(file, "path", None):
            yield file.path


def checked(component: gr.components.Component) -> gr.components.Component:
    """Make `component` answer a value it cannot take (through the API: "ten" steps, a damaged image) with a
    message naming the parameter and what it takes: Gradio reads inputs before any handler runs, and would
    say only "Error". Long values are not echoed. (An instance attribute, because subclassing a Gradio
    component makes Gradio write a stub file beside app.py.)"""
    read, name = component.preprocess, component.label
    images = isinstance(component, gr.Image | gr.ImageEditor)

    def read_or_explain(payload: object) -> object:
        try:
            for image in uploaded_images(component, payload) if images else ():
                check_pixels(image)  # from the header: a pixel bomb is refused before Gradio decodes it
        except ValueError as error:
            raise gr.Error(f"{name}: {error}") from error
        try:
            return read(payload)
        except Image.DecompressionBombError as error:
            raise gr.Error(f"{name}: the image is too large to open safely: {error}") from error
        except UnidentifiedImageError as error:
            raise gr.Error(f"{name}: the file is not an image that can be read (PNG, JPEG, WebP, ...).") from error
        except (OSError, SyntaxError) as error:  # what Pillow raises on a damaged file
            raise gr.Error(f"{name}: the image file is truncated or corrupt and cannot be read ({error}).") from error
        except gr.Error as error:  # Gradio's own check (a number out of range): say which parameter
            if isinstance(component, gr.Dropdown):  # Gradio's message would echo the value, however long
                raise gr.Error(f"{name} takes {what_it_takes(component)}; got {str(payload)[:40]!r}.") from error
            raise gr.Error(f"{name}: {error.message[:200]}") from error
        except Exception as error:
            raise gr.Error(f"{name} takes {what_it_takes(component)}; got {str(payload)[:40]!r}.") from error

    component.preprocess = read_or_explain
    return component


def model_dropdown(pipeline_classes: tuple[str, ...], default: str) -> gr.Dropdown:
    """The catalogue's models for this tab. A value not among them goes through to the handler unread, so
    that the API and the page get the catalogue's one refusal (not Gradio's, which echoes the value)."""
    dropdown = gr.Dropdown(catalogue.choices(pipeline_classes), value=default, label="Model")
    dropdown.preprocess = lambda payload: payload
    return dropdown


def sampler_inputs(default_scheduler: str, default_steps: int) -> tuple[gr.Dropdown, gr.Slider]:
    scheduler = checked(gr.Dropdown(list(SCHEDULERS), value=default_scheduler, label="Scheduler"))
    return scheduler, checked(gr.Slider(1, 1000, value=default_steps, step=1, label="Steps"))


def guidance_slider() -> gr.Slider:
    maximum, default = defaults.text_to_image.MAX_GUIDANCE_SCALE, defaults.text_to_image.DEFAULT_GUIDANCE_SCALE
    return checked(gr.Slider(1, maximum, value=default, step=0.5, label="Guidance scale"))


# Image inputs take uploads as they are; pipelines.engine.images converts them, with notices.
UPLOAD_SETTINGS = {"type": "pil", "image_mode": None, "sources": ("upload", "clipboard"), "format": "png"}


def seed_inputs() -> tuple[gr.Number, gr.Checkbox]:
    with gr.Row():
        return checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED)), gr.Checkbox(
            False, label="Random seed"
        )


def run_buttons() -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        return gr.Button("Generate", variant="primary"), gr.Button("Stop", variant="stop")


def stream_outputs(
    task: str, noisy_label: str, estimate_label: str, compare: bool = False
) -> list[gr.components.Component]:
    """x_t and x̂0 side by side, status, replay slider, result (a before/after slider if `compare`), the
    frames kept for replay, the run's trajectory animation and contact sheet to download, and the Play
    button with the timer that steps the replay through the run."""
    with gr.Row():
        noisy = gr.Image(label=noisy_label, format="png", height=256, elem_classes="pixelated")
        estimate = gr.Image(label=estimate_label, format="png", height=256, elem_classes="pixelated")
    status = gr.Markdown("Press **Generate** to start from pure noise.", elem_id=f"{task}-status")
    with gr.Row():
        replay = gr.Slider(0, 1, value=1, step=1, label="Replay: step", visible=False, scale=4)
        play = gr.Button("▶ Play the run", size="sm", scale=1, elem_id=f"{task}-play")
    timer = gr.Timer(0.1, active=False)  # ticks while Play runs: one shown step per tick
    if compare:
        result = gr.ImageSlider(
            label="Result: bicubic ◀ ▶ diffusion",
            format="png",
            max_height=512,
            buttons=["download", "fullscreen"],
            elem_id=f"{task}-result",
        )
    else:
        result = gr.Image(label="Result", format="png", height=320, elem_classes="pixelated", elem_id=f"{task}-result")
    with gr.Row():  # the run to take home, written at its end (keep.kept)
        animation = gr.File(
            label="Trajectory animation (WebP): x_t and x̂₀ at each step", height=100, elem_id=f"{task}-animation"
        )
        sheet = gr.File(label="Contact sheet (PNG)", height=100, elem_id=f"{task}-sheet")
    # Every step's frame, for the replay slider (previews of at most 128 px: ~50 MB for 1000 steps of 8 32-px
    # images; latent frames keep only their latents until shown); dropped 30 minutes after the last run.
    frames = gr.State(None, time_to_live=FRAMES_KEPT_SECONDS)  # a ticket to them: ui/replays.py
    return [noisy, estimate, result, status, replay, frames, animation, sheet, play, timer]


def batch_slider() -> gr.Slider:
    return checked(gr.Slider(1, MAX_BATCH_SIZE, value=4, step=1, label="Batch size"))


# Small images are enlarged by the browser: keep their pixels sharp instead of blurring them.
CSS = ".pixelated img, .pixelated canvas { image-rendering: pixelated; object-fit: contain; }"
