"""The "Classifier guidance" tab: a noise-aware classifier steers the unconditional model towards a target."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from pipelines import defaults
from pipelines.lazy import lazy
from ui.components import batch_slider, checked, run_buttons, stream_outputs
from ui.stream import MAX_SEED, RESULT_SIZE, seeds_text, steps_text, stream_frames, tab_handler, whole_number, wire

classifier_guidance = lazy("pipelines.classifier_guidance")

TITLE, ID = "Classifier guidance", "classifier-guidance"
EXPLANATION = """
**Classifier guidance** (Dhariwal & Nichol 2021): the unconditional model above knows no words, but a small
classifier that reads *noisy* images (trained at every noise level t) can tell it which way "red" or "circle" lies.
At every step the gradient of the classifier's log p(target | x_t), times the **guidance strength** s and the step's
noise variance Σ, moves the step's mean: x_t−1 ~ N(μ + s·Σ·∇ log p(target | x_t), Σ). The status shows the
classifier's probability of the target at each step. The result's **top row is guided; the bottom row is the same
seeds without guidance** (s = 0).
"""


@tab_handler(
    "classifier_guidance",
    model=defaults.classifier_guidance.DEFAULT_MODEL,
    steps=2 * defaults.classifier_guidance.DEFAULT_STEPS,
)  # guided and unguided images in one batch: twice the work of an unconditional run
def run_classifier_guidance(
    slot: int,
    target: str,
    guidance_scale: float,
    seed: float,
    batch_size: float,
) -> Iterator[tuple]:
    seed, batch_size = whole_number(seed, "Seed"), whole_number(batch_size, "Batch size")
    settings = {"target": target, "guidance_scale": guidance_scale, "seed": seed, "batch_size": batch_size}
    steps, scheduler = defaults.classifier_guidance.DEFAULT_STEPS, defaults.classifier_guidance.DEFAULT_SCHEDULER
    yield from stream_frames(
        "classifier_guidance",
        lambda: classifier_guidance.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) guided towards “{target}” at strength {guidance_scale:g} in "
            f"{frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}; at the "
            f"last step {frame.probability_text()}. Result: top row guided, bottom row the same seeds without."
        ),
        slot,
        settings=settings,
        result=lambda frame: classifier_guidance.comparison(
            frame, scale=max(1, RESULT_SIZE // frame.predicted_original.shape[1])
        ),
    )


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            target = checked(
                gr.Dropdown(
                    list(defaults.classifier_guidance.targets()), value="red", label="Target: a colour or a shape"
                )
            )
            strength = checked(
                gr.Slider(
                    0,
                    defaults.classifier_guidance.MAX_GUIDANCE_SCALE,
                    value=defaults.classifier_guidance.DEFAULT_GUIDANCE_SCALE,
                    step=0.5,
                    label="Guidance strength s (0: none)",
                )
            )
            seed = checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
            batch_size = batch_slider()
            buttons = run_buttons()
        with gr.Column(scale=2):
            outputs = stream_outputs("classifier-guidance", "x_t: guided noisy sample", "x̂₀: guided prediction")
    inputs = [target, strength, seed, batch_size]
    return wire(buttons, run_classifier_guidance, inputs, seed, outputs, "classifier_guidance")
