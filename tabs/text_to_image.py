"""The "Text to image" tab: a latent diffusion model draws what a prompt says, with classifier-free guidance."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from pipelines import text_to_image
from pipelines.engine import limits
from pipelines.engine.frames import LatentFrame
from ui.components import (
    batch_slider,
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
    steps_text,
    stream_frames,
    tab_handler,
    tell,
    whole_number,
    wire,
)

TITLE, ID = "Text to image", "text-to-image"
EXPLANATION = """
**Latent diffusion:** this model denoises a small *latent* (8×8×4 numbers for a 32×32 image), which an autoencoder
then decodes into pixels. The left image shows the latent's 4 channels as grey tiles; the right one is x̂₀ decoded.
The prompt steers every step through cross-attention; **guidance** pushes the prediction away from what the model
would draw without the prompt (1 = no guidance).
"""
EXAMPLE_PROMPTS = [
    ["a large red circle on the left"],
    ["a small blue square"],
    ["a yellow triangle on the top"],
    ["a green circle and a purple square"],
    ["a white triangle in the center"],
]


@tab_handler("text_to_image", text_to_image.PIPELINE_CLASSES)
def run_text_to_image(
    slot: int,
    model: str,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)

    def start() -> Iterator[LatentFrame]:
        tell(text_to_image.prompt_notices(model, prompt))
        return text_to_image.generate_steps(
            model, prompt, negative_prompt, guidance_scale, scheduler, steps, seed, batch_size
        )

    yield from stream_frames(
        "text_to_image",
        start,
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) of “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, text_to_image.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
        },
    )


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(text_to_image.PIPELINE_CLASSES, text_to_image.DEFAULT_MODEL)
            prompt = gr.Textbox("a large red circle on the left", label="Prompt", max_lines=2)
            negative_prompt = gr.Textbox("", label="Negative prompt", max_lines=2)
            guidance = guidance_slider()
            scheduler, steps = sampler_inputs(text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS)
            seed, random_seed = seed_inputs()
            batch_size = batch_slider()
            buttons = run_buttons()
            gr.Examples(EXAMPLE_PROMPTS, inputs=[prompt], label="Example prompts")
        with gr.Column(scale=2):
            outputs = stream_outputs(
                "text-to-image", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
            )
    inputs = [model, prompt, negative_prompt, guidance, scheduler, steps, seed, random_seed, batch_size]
    return wire(buttons, run_text_to_image, inputs, seed, outputs, "text_to_image")
