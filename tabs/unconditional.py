"""The "Unconditional" tab, the landing tab: a pixel-space model turns pure noise into pictures, step by step."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from pipelines import defaults
from pipelines.lazy import lazy
from ui.components import batch_slider, model_dropdown, run_buttons, sampler_inputs, seed_inputs, stream_outputs
from ui.stream import loading_notice, run_seed, seeds_text, steps_text, stream_frames, tab_handler, whole_number, wire

unconditional = lazy("pipelines.unconditional")

TITLE, ID = "Unconditional", "unconditional"
EXPLANATION = """
**Forward process:** to train the model, Gaussian noise is added to real images step by step until only noise is left.
**Reverse process:** generation runs that backwards. It starts from pure noise and at every step the model removes a
little of it; the left image is the current noisy sample **x_t**. The right image is **x̂₀**, the model's guess at
that step of the clean image it is heading for: blurry at first, sharp as t approaches 0.
"""


@tab_handler("unconditional", defaults.unconditional.PIPELINE_CLASSES)
def run_unconditional(
    slot: int,
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    settings = {"model": model, "scheduler": scheduler, "steps": steps, "seed": seed, "batch_size": batch_size}
    yield from stream_frames(
        "unconditional",
        lambda: unconditional.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, "
            f"{seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, defaults.unconditional.PIPELINE_CLASSES),
        settings=settings,
    )


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(defaults.unconditional.PIPELINE_CLASSES, defaults.unconditional.DEFAULT_MODEL)
            scheduler, steps = sampler_inputs(
                defaults.unconditional.DEFAULT_SCHEDULER, defaults.unconditional.DEFAULT_STEPS
            )
            seed, random_seed = seed_inputs()
            batch_size = batch_slider()
            buttons = run_buttons()
        with gr.Column(scale=2):
            outputs = stream_outputs("unconditional", "x_t: noisy sample", "x̂₀: predicted clean image")
    inputs = [model, scheduler, steps, seed, random_seed, batch_size]
    return wire(buttons, run_unconditional, inputs, seed, outputs, "unconditional")
