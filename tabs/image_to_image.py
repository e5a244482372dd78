"""The "Image to image" tab: draw (or upload), pick how much noise to add, and watch the model finish the picture."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
from PIL import Image

from pipelines import defaults
from pipelines.engine import limits
from pipelines.engine.frames import Frame, LatentFrame
from pipelines.lazy import lazy
from train.shapes import COLOURS
from ui.components import (
    UPLOAD_SETTINGS,
    checked,
    guidance_slider,
    model_dropdown,
    run_buttons,
    sampler_inputs,
    seed_inputs,
    stream_outputs,
)
from ui.stream import (
    loading_notice,
    prompts,
    run_seed,
    seeds_text,
    stream_frames,
    tab_handler,
    tell,
    whole_number,
    wire,
)

image_to_image = lazy("pipelines.image_to_image")

TITLE, ID = "Image to image", "image-to-image"
EXPLANATION = """
**Image to image** (SDEdit): draw a rough picture with the shapes world's colours (or upload one), and choose the
**strength**: how far into the forward process your picture goes. The run first jumps to x_t in one step,
x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε: that much of your drawing is left. The reverse process then finishes it from
there, x_t beside x̂₀ as in every tab. Low strength keeps your drawing (and its wobbles); high strength keeps only its
rough layout and colours; 1 forgets it (the plain run from pure noise). Text models also follow the prompt.
"""
CANVAS_SIZE = 128  # the sketchpad's pixels; made smaller to the model's size (32 px for the embedded models)
BRUSH_SIZE = 10  # px of the sketchpad: a felt pen, a quarter of a large shape across
BRUSH_COLOURS = ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in COLOURS.values()]  # the shapes world's palette


def blank_canvas() -> dict:
    """The sketchpad's starting value: a black background (the shapes world's), nothing drawn."""
    black = Image.new("RGB", (CANVAS_SIZE, CANVAS_SIZE))
    return {"background": black, "layers": [], "composite": black}


def editor_image(editor: object) -> Image.Image | None:
    """The picture the editor holds: its composite, or (an API caller may send none) the layers over the background."""
    if not isinstance(editor, dict):
        return None
    if editor.get("composite") is not None:
        return editor["composite"]
    background, layers = editor.get("background"), [layer for layer in editor.get("layers") or [] if layer]
    if background is None or not layers:
        return background
    picture = background.convert("RGBA")
    for layer in layers:
        picture.alpha_composite(layer.convert("RGBA").resize(picture.size))
    return picture


def start_line(model: str, scheduler: str, steps: float, strength: float) -> str:
    """What the strength means for this model, sampler and steps: the timestep it starts at, the steps that run."""
    try:
        steps = whole_number(steps, "Steps")
        return image_to_image.start_text(model, scheduler, steps, strength)
    except (ValueError, gr.Error) as error:
        return str(error)


@tab_handler("image_to_image", defaults.image_to_image.PIPELINE_CLASSES)
def run_image_to_image(
    slot: int,
    model: str,
    editor: dict | None,
    prompt: str,
    negative_prompt: str,
    strength: float,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)

    def start() -> Iterator[Frame | LatentFrame]:
        image, notices = image_to_image.prepare(editor_image(editor), model)
        tell(notices, gr.Info)  # conversions done to the drawing or upload
        tell(image_to_image.prompt_notices(model, prompt, negative_prompt))
        settings = (model, image, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed)
        return image_to_image.generate_steps(*settings)

    yield from stream_frames(
        "image_to_image",
        start,
        seed,
        lambda frame: (
            f"Done in {frame.elapsed:.2f} s: strength {strength:g}, {frame.total_steps} of {steps} steps of "
            f"{scheduler}{f', “{limits.shown(prompt)}”' if prompt else ''}, {seeds_text(seed, 1)}."
            if frame.total_steps
            else "Done: at strength 0 no step runs, the input is the result."
        ),
        slot,
        announce=loading_notice(model, defaults.image_to_image.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "strength": strength,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
        },
    )


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's sketchpad, controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(defaults.image_to_image.PIPELINE_CLASSES, defaults.image_to_image.DEFAULT_MODEL)
            editor = checked(
                gr.ImageEditor(
                    blank_canvas(),
                    label="Draw with the shapes world's colours (or upload a picture)",
                    brush=gr.Brush(
                        BRUSH_SIZE, colors=BRUSH_COLOURS, default_color=BRUSH_COLOURS[0], color_mode="fixed"
                    ),
                    canvas_size=(CANVAS_SIZE, CANVAS_SIZE),
                    fixed_canvas=True,
                    transforms=(),
                    layers=False,
                    height=320,
                    elem_classes="pixelated",
                    elem_id="image-to-image-editor",
                    **UPLOAD_SETTINGS,
                )
            )
            prompt = gr.Textbox("", label="Prompt (text models only)", max_lines=2)
            negative_prompt = gr.Textbox("", label="Negative prompt (text models only)", max_lines=2)
            strength = checked(
                gr.Slider(
                    0, 1, value=defaults.image_to_image.DEFAULT_STRENGTH, step=0.05, label="Strength (noise added)"
                )
            )
            scheduler, steps = sampler_inputs(
                defaults.image_to_image.DEFAULT_SCHEDULER, defaults.image_to_image.DEFAULT_STEPS
            )
            start = gr.Markdown(elem_id="image-to-image-start")
            guidance = guidance_slider()
            seed, random_seed = seed_inputs()
            buttons = run_buttons()
        with gr.Column(scale=2):
            outputs = stream_outputs("image-to-image", "x_t: noisy sample (latent channels for text models)", "x̂₀")
    # at the page's load too: the timestep comes from the model's scheduler, which the UI is built without
    gr.on(None, start_line, [model, scheduler, steps, strength], start, queue=False, api_visibility="private")
    inputs = [model, editor, prompt, negative_prompt, strength, guidance, scheduler, steps, seed, random_seed]
    return wire(buttons, run_image_to_image, inputs, seed, outputs, "image_to_image")
