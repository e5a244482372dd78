"""The "Super-resolution" tab: 4× upscaling of a photo by diffusion of what bicubic interpolation misses."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
from PIL import Image

from pipelines import defaults
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

super_resolution = lazy("pipelines.super_resolution")

TITLE, ID = "Super-resolution", "super-resolution"
EXPLANATION = """
**Super-resolution:** the model draws a photo 4× larger than the one given. Bicubic interpolation, the classic way to
enlarge an image, gets the coarse picture right; the model diffuses only what bicubic misses, the *residual*, and sees
the small photo at every step. The left image is the noisy residual x_t (grey is zero); the right one is x̂₀, bicubic
plus the residual predicted at that step. Compare the result with bicubic by dragging its slider. Few steps give the
closest image to the original on average; more steps draw sharper, invented detail. Averaging several samples (each
sees the photo mirrored a different way) estimates the *mean* of the photos that shrink to yours, closer still; one
sample is sharper (x_t is then the first sample's, x̂₀ their mean). "Consistent with the photo" corrects each image
until, shrunk back, it is the photo given: the model then only adds detail.
"""
EXAMPLE_PHOTOS = sorted(str(path) for path in EXAMPLES_DIR.glob("photo-*.png"))


@tab_handler("super_resolution", defaults.super_resolution.PIPELINE_CLASSES)
def run_super_resolution(
    slot: int,
    model: str,
    photo: Image.Image | None,
    scheduler: str,
    steps: float,
    eta: float,
    seed: float,
    random_seed: bool,
    prompt: str,
    guidance_scale: float,
    noise_level: float,
    consistent: bool = True,
    samples: float = defaults.super_resolution.DEFAULT_SAMPLES,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    noise_level, samples = whole_number(noise_level, "Noise level"), whole_number(samples, "Samples averaged")
    prompt, _ = prompts(prompt, "")
    prepared: list[Image.Image] = []  # the input as upscaled, for the bicubic comparison

    def start() -> Iterator[LatentFrame]:
        image, notices = super_resolution.prepare(photo)
        tell(notices, gr.Info)  # conversions done to the upload
        prepared.append(image)
        return super_resolution.generate_steps(
            model, image, scheduler, steps, seed, eta, prompt, guidance_scale, noise_level, consistent, samples
        )

    def done(frame: LatentFrame) -> str:
        width, height = prepared[0].size
        scale = defaults.super_resolution.SCALE
        return (
            f"Done: {width}×{height} upscaled to {width * scale}×{height * scale} "
            f"in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, eta {eta:g}, {seeds_text(seed, 1)}, "
            f"{'the mean of ' + str(samples) + ' samples' if samples > 1 else 'one sample'}, "
            f"{'back-projected onto the photo' if consistent else 'raw model output'}. "
            "Drag the slider over the result: bicubic interpolation on the left, diffusion on the right."
        )

    yield from stream_frames(
        "super_resolution",
        start,
        seed,
        done,
        slot,
        result=lambda frame: (super_resolution.bicubic(prepared[0]), frame.predicted_original[0]),
        announce=loading_notice(model, defaults.super_resolution.PIPELINE_CLASSES),
        settings={
            "model": model,
            "scheduler": scheduler,
            "steps": steps,
            "eta": eta,
            "seed": seed,
            "prompt": prompt,
            "guidance_scale": guidance_scale,
            "noise_level": noise_level,
            "consistent": consistent,
            "samples": samples,
        },
    )


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's controls and stream; call inside its `gr.Tab`. Returns its inputs (`wire`)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            model = model_dropdown(defaults.super_resolution.PIPELINE_CLASSES, defaults.super_resolution.DEFAULT_MODEL)
            most_pixels = defaults.super_resolution.MAX_INPUT_PIXELS
            photo = checked(
                gr.Image(
                    label=f"Photo to upscale (at most {most_pixels:,} pixels, or reduced)",
                    height=256,
                    elem_classes="pixelated",
                    **UPLOAD_SETTINGS,
                )
            )
            gr.Examples(
                EXAMPLE_PHOTOS, inputs=[photo], label="Example photos (astronaut and coffee: never seen in training)"
            )
            scheduler, steps = sampler_inputs(
                defaults.super_resolution.DEFAULT_SCHEDULER, defaults.super_resolution.DEFAULT_STEPS
            )
            eta = gr.Slider(
                0,
                1,
                value=defaults.super_resolution.DEFAULT_ETA,
                step=0.05,
                label="Eta (DDIM: 0 deterministic, 1 random)",
            )
            samples = checked(
                gr.Slider(
                    1,
                    defaults.super_resolution.MAX_SAMPLES,
                    value=defaults.super_resolution.DEFAULT_SAMPLES,
                    step=1,
                    label="Samples averaged",
                    info="Their mean is closer to the photo on average, one sample sharper (each sees the photo "
                    "mirrored a different way).",
                )
            )
            seed, random_seed = seed_inputs()
            consistent = gr.Checkbox(
                True,
                label="Consistent with the photo",
                info="Back-projection: the result, shrunk 4×, gives the photo back. Off: the model's raw output.",
            )
            with gr.Accordion("Stable Diffusion upscaler only", open=False):
                prompt = gr.Textbox("", label="Prompt", max_lines=2)
                guidance = guidance_slider()
                noise_level = gr.Slider(
                    0,
                    defaults.super_resolution.MAX_NOISE_LEVEL,
                    value=defaults.super_resolution.DEFAULT_NOISE_LEVEL,
                    step=1,
                    label="Noise level added to the input",
                )
            buttons = run_buttons()
        with gr.Column(scale=2):
            outputs = stream_outputs(
                "super-resolution", "x_t: the 3 latent channels", "x̂₀: predicted photo, decoded", compare=True
            )
    inputs = [
        model,
        photo,
        scheduler,
        steps,
        eta,
        seed,
        random_seed,
        prompt,
        guidance,
        noise_level,
        consistent,
        samples,
    ]
    return wire(buttons, run_super_resolution, inputs, seed, outputs, "super_resolution")
