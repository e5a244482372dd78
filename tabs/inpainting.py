"""The "Inpainting" tab: paint over part of an image and describe what goes there; a soft mask paints how much."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
import numpy as np

from pipelines import defaults
from pipelines.engine import limits
from pipelines.engine.frames import LatentFrame
from pipelines.lazy import lazy
from ui.components import (
    EXAMPLES_DIR,
    UPLOAD_SETTINGS,
    checked,
    guidance_slider,
    model_dropdown,
    run_buttons,
    sampler_inputs,
    seed_inputs,
    stream_outputs,
)
from ui.replays import Replay, frames_of
from ui.stream import (
    enlarged_grid,
    loading_notice,
    prompts,
    run_seed,
    seeds_text,
    steps_text,
    stream_frames,
    tab_handler,
    tell,
    whole_number,
    wire,
)

inpainting = lazy("pipelines.inpainting")
text_to_image = lazy("pipelines.text_to_image")

TITLE, ID = "Inpainting", "inpainting"
EXPLANATION = """
**Inpainting:** paint over part of an image (or pick an example and paint over one shape), then describe what should
be there. At every step the unpainted part is reset to the original, noised to the current level, so the model only
invents the painted part and makes it fit. Pixels outside the mask are kept exactly.
**Soft mask** (Differential Diffusion): the brush strength is how much a pixel may change. A pixel painted at 0.3
follows the noised original for the first 70 % of the steps and is free for the last 30 %: low levels keep the
layout, high ones let the model redraw it (with strong guidance the prompt's colour wins even at low levels). The
change map shows how much each pixel changed.
"""
EXAMPLE_SCENES = sorted(str(path) for path in EXAMPLES_DIR.glob("scene-*.png"))
BINARY_BRUSH_OPACITY = 0.7  # white strokes that still show the image; any stroke at least half opaque is masked


@tab_handler("inpainting", defaults.inpainting.PIPELINE_CLASSES)
def run_inpainting(
    slot: int,
    model: str,
    editor: dict | None,
    prompt: str,
    negative_prompt: str,
    strength: float,
    zoom: bool,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    soft_mask: bool = False,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)
    if not isinstance(soft_mask, bool):
        raise gr.Error(f"Soft mask takes true or false; got {str(soft_mask)[:40]!r}.")

    def start() -> Iterator[LatentFrame]:
        size, multiple = inpainting.model_size(model)
        editor_value = editor if isinstance(editor, dict) else {}
        image, mask, notices = inpainting.prepare(
            editor_value.get("background"), editor_value.get("layers") or [], size, multiple, soft=soft_mask
        )
        tell(notices, gr.Info)  # conversions done to the upload
        tell(text_to_image.prompt_notices(model, prompt, defaults.inpainting.PIPELINE_CLASSES))
        settings = (model, image, mask, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed)
        return inpainting.generate_steps(*settings, zoom=zoom, soft=soft_mask)

    yield from stream_frames(
        "inpainting",
        start,
        seed,
        lambda frame: (
            f"Done: repainted with “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, strength {strength:g}"
            f"{', zoomed into the mask' if zoom else ''}{', soft mask' if soft_mask else ''}, "
            f"guidance {guidance_scale:g}, "
            f"{steps_text(frame, steps, scheduler)}, {seeds_text(seed, 1)}."
        ),
        slot,
        announce=loading_notice(model, defaults.inpainting.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "strength": strength,
            "zoom": zoom,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "soft_mask": soft_mask,
        },
    )


def change_map_view(replay: Replay | None) -> np.ndarray | None:
    """The last inpainting run's change maps, |result - original| (black: unchanged), enlarged like the result."""
    frames, _ = frames_of(replay)
    last = frames[-1] if frames else None
    return enlarged_grid(last.change_maps) if isinstance(last, inpainting.InpaintedFrame) else None


def mask_brush(soft_mask: bool = False, brush_strength: float = 1.0) -> gr.Brush:
    """The inpainting editor's brush: white, as opaque as the brush strength with a soft mask (the grey level it
    paints), else see-through."""
    opacity = min(max(float(brush_strength), 0.0), 1.0) if soft_mask else BINARY_BRUSH_OPACITY
    return gr.Brush(colors=[("#ffffff", opacity)], color_mode="fixed")


def soft_mask_brush(soft_mask: bool, brush_strength: float) -> tuple[gr.ImageEditor, gr.Slider]:
    """The editor's brush for this mode, and the brush strength slider shown only with a soft mask."""
    return gr.ImageEditor(brush=mask_brush(soft_mask, brush_strength)), gr.Slider(visible=soft_mask)


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls, stream and change map; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(defaults.inpainting.PIPELINE_CLASSES, defaults.inpainting.DEFAULT_MODEL)
            editor = checked(
                gr.ImageEditor(
                    label="Image: paint over the part to repaint",
                    brush=mask_brush(),
                    transforms=(),
                    height=320,
                    elem_classes="pixelated",
                    **UPLOAD_SETTINGS,
                )
            )
            gr.Examples(EXAMPLE_SCENES, inputs=[editor], label="Example images")
            prompt = gr.Textbox("a green triangle", label="Prompt", max_lines=2)
            negative_prompt = gr.Textbox("", label="Negative prompt", max_lines=2)
            strength = gr.Slider(0.05, 1, value=defaults.inpainting.DEFAULT_STRENGTH, step=0.05, label="Strength")
            zoom = gr.Checkbox(True, label="Zoom into the mask: repaint only the masked area, at full resolution")
            soft_mask = checked(
                gr.Checkbox(
                    False,
                    label="Soft mask",
                    info="The brush paints grey levels: how much each pixel may change (0 keeps, 1 repaints).",
                )
            )
            brush_strength = gr.Slider(
                0.05, 1, value=0.5, step=0.05, label="Brush strength (grey level painted)", visible=False
            )
            guidance = guidance_slider()
            scheduler, steps = sampler_inputs(
                defaults.text_to_image.DEFAULT_SCHEDULER, defaults.text_to_image.DEFAULT_STEPS
            )
            seed, random_seed = seed_inputs()
            buttons = run_buttons()
        with gr.Column(scale=2):
            outputs = stream_outputs("inpainting", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded")
            change_map = gr.Image(
                label="Change map: |result − original|, black = unchanged",
                format="png",
                height=320,
                elem_classes="pixelated",
                elem_id="inpainting-change-map",
            )
    for brush_setting in (soft_mask, brush_strength):
        brush_setting.change(
            soft_mask_brush,
            [soft_mask, brush_strength],
            [editor, brush_strength],
            queue=False,
            api_visibility="private",
        )
    result, frames = outputs[2], outputs[5]
    result.change(change_map_view, frames, change_map, queue=False, api_visibility="private")
    inputs = [
        model,
        editor,
        prompt,
        negative_prompt,
        strength,
        zoom,
        guidance,
        scheduler,
        steps,
        seed,
        random_seed,
        soft_mask,
    ]
    return wire(buttons, run_inpainting, inputs, seed, outputs, "inpaint")
