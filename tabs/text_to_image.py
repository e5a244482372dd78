"""The "Text to image" tab: a latent diffusion model draws what a prompt says, with classifier-free guidance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace

import gradio as gr
import numpy as np

from pipelines import defaults
from pipelines.engine import limits
from pipelines.engine.frames import LatentFrame
from pipelines.lazy import lazy
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

text_to_image = lazy("pipelines.text_to_image")
word_maps = lazy("pipelines.engine.word_maps")

TITLE, ID = "Text to image", "text-to-image"
EXPLANATION = """
**Latent diffusion:** this model denoises a small *latent* (8×8×4 numbers for a 32×32 image), which an autoencoder
then decodes into pixels. The left image shows the latent's 4 channels as grey tiles; the right one is x̂₀ decoded.
The prompt steers every step through cross-attention; **guidance** pushes the prediction away from what the model
would draw without the prompt (1 = no guidance). **Where each word looks** shows that cross-attention: for each word of
the prompt, where in the picture the model's attention to it falls (averaged over heads, summed over layers), over x̂₀:
this step's map beside the maps summed so far. Click a word to see it large.
"""
EXAMPLE_PROMPTS = [
    ["a large red circle on the left"],
    ["a small blue square"],
    ["a yellow triangle on the top"],
    ["a green circle and a purple square"],
    ["a white triangle in the center"],
]


@tab_handler("text_to_image", defaults.text_to_image.PIPELINE_CLASSES)
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
    where_words_look: bool = False,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)
    if not isinstance(where_words_look, bool):
        raise gr.Error(f"Where each word looks takes true or false; got {str(where_words_look)[:40]!r}.")
    latest: list[LatentFrame] = []  # the last frame the stream took, with its maps: they go with the stream's update

    def start() -> Iterator[LatentFrame]:
        tell(text_to_image.prompt_notices(model, prompt))
        frames = text_to_image.generate_steps(
            model, prompt, negative_prompt, guidance_scale, scheduler, steps, seed, batch_size, where_words_look
        )
        return remembered(frames, latest)

    strip = WordStrip()
    for update in stream_frames(
        "text_to_image",
        start,
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) of “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, defaults.text_to_image.PIPELINE_CLASSES),
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
    ):
        *shown, frames = update
        yield *shown, strip.views(latest), frames  # the frames kept for replay stay last (`wire`)


def remembered(frames: Iterator[LatentFrame], latest: list[LatentFrame]) -> Iterator[LatentFrame]:
    """`frames`, each left as `latest` when it is taken, [the frame, the copy taken]: the copy without word maps, since
    the stream keeps every frame for replay (maps of a 64x64-latent model's prompt: megabytes a step)."""
    with closing(frames):
        for frame in frames:
            taken = (
                replace(frame, step_maps=None, summed_maps=None) if isinstance(frame, word_maps.WordMapFrame) else frame
            )
            latest[:] = [frame, taken]
            yield taken


class WordStrip:
    """The word maps' strip of a run: drawn over the latest x̂0 the stream has decoded (decoding is the stream's to
    afford, `Throttle`), redrawn only for a frame it has not drawn; the last frame's in every update that ends the
    run (the API's result is the last update)."""

    def __init__(self) -> None:
        self.drawn: LatentFrame | None = None
        self.image: np.ndarray | None = None
        self.shown: list[tuple[np.ndarray, str]] = []

    def views(self, latest: list[LatentFrame]) -> object:
        """The strip for `latest` ([the frame with its maps, the copy the stream took], or nothing yet)."""
        if not latest:
            return gr.skip()
        frame, taken = latest
        if not isinstance(frame, word_maps.WordMapFrame) or frame.step_maps is None:
            return [] if frame.is_last else gr.skip()  # no maps: none left from an earlier run
        if frame is self.drawn:
            return self.shown if frame.is_last else gr.skip()
        if "predicted_original" in vars(taken) or self.image is None:  # decoded by the stream (cached), or the first
            self.image = taken.predicted_original[0]
        self.drawn, self.shown = frame, word_maps.word_views(frame, self.image)
        return self.shown


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(defaults.text_to_image.PIPELINE_CLASSES, defaults.text_to_image.DEFAULT_MODEL)
            prompt = gr.Textbox("a large red circle on the left", label="Prompt", max_lines=2)
            negative_prompt = gr.Textbox("", label="Negative prompt", max_lines=2)
            guidance = guidance_slider()
            scheduler, steps = sampler_inputs(
                defaults.text_to_image.DEFAULT_SCHEDULER, defaults.text_to_image.DEFAULT_STEPS
            )
            seed, random_seed = seed_inputs()
            batch_size = batch_slider()
            where_words_look = gr.Checkbox(
                False,
                label="Where each word looks",
                info="Cross-attention maps of each prompt word, streamed (first image of the batch)",
                elem_id="text-to-image-where-words-look",
            )
            buttons = run_buttons()
            gr.Examples(EXAMPLE_PROMPTS, inputs=[prompt], label="Example prompts")
        with gr.Column(scale=2):
            outputs = stream_outputs(
                "text-to-image", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
            )
            strip = gr.Gallery(
                label="Where each word looks: this step ◀ ▶ summed so far (click a word)",
                format="png",
                columns=6,
                height="auto",
                object_fit="contain",
                visible=False,
                elem_id="text-to-image-word-maps",
                elem_classes="pixelated",
            )
    where_words_look.change(
        lambda shown: gr.Gallery(visible=shown), where_words_look, strip, queue=False, api_visibility="private"
    )
    inputs = [model, prompt, negative_prompt, guidance, scheduler, steps, seed, random_seed, batch_size]
    inputs.append(where_words_look)
    return wire(buttons, run_text_to_image, inputs, seed, outputs, "text_to_image", extra_outputs=(strip,))
