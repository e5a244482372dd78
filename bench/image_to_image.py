"""What an Image to image run costs, beside the Text to image default it must not exceed (issue 25), in one run.

    python -m bench.image_to_image              # ~4 minutes on 2 quiet CPU cores
    python -m bench.image_to_image --processes 4 --repeats 3 --out bench/results-image-to-image.md

Rows (timed as every bench is, in rounds in fresh worker processes: see bench.common):
  the tab's default: shapes-ddpm, DPM-Solver++ SDE, 50 steps at strength 0.2 (the last 10 run), on a rough drawing;
    plain - diffusers' DDPMPipeline running the same 10 UNet calls from noise (diffusers has no pixel img2img);
  shapes-sd at strength 0.6 (15 of 25 steps of DPM-Solver++, prompt), plain - diffusers' StableDiffusionImg2ImgPipeline;
  Text to image's default (shapes-sd, DPM-Solver++, 25 steps, batch 4), plain - StableDiffusionPipeline: the bar.
generator - pipelines.*.generate_steps consumed to the end; app - the tab's UI handler.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from diffusers import DDPMPipeline, StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

from bench import common

PROMPT = "a red circle"
DRAWING_SEED = 0


def drawing():
    """The first rough drawing of the evaluation (train/evaluate_image_to_image.py): one or two scribbled blobs."""
    from train.evaluate_image_to_image import rough_drawing

    return rough_drawing(random.Random(DRAWING_SEED))[0]


def rows(only: str) -> Iterator[common.Row]:
    from pipelines import image_to_image, text_to_image
    from pipelines.engine.loading import load_pipeline, make_scheduler
    from tabs.image_to_image import run_image_to_image
    from tabs.text_to_image import run_text_to_image

    sketch = drawing()
    editor = {"background": sketch, "layers": [], "composite": sketch}
    pixel_model, latent_model = image_to_image.DEFAULT_MODEL, text_to_image.DEFAULT_MODEL
    guidance = text_to_image.DEFAULT_GUIDANCE_SCALE

    def diffusers_call(model: str, classes: tuple[str, ...], pipeline_class: type, scheduler: str, **call):
        shared = load_pipeline(model, classes)
        noise_scheduler = make_scheduler(scheduler, shared.scheduler.config, plain=True)
        if pipeline_class is DDPMPipeline:
            pipeline = DDPMPipeline(unet=shared.unet, scheduler=noise_scheduler)
        else:
            pipeline = pipeline_class.from_pipe(shared, scheduler=noise_scheduler)
        pipeline.set_progress_bar_config(disable=True)
        return lambda: pipeline(**call, output_type="np")

    strength, scheduler, steps = image_to_image.DEFAULT_STRENGTH, image_to_image.DEFAULT_SCHEDULER, 50
    steps_run = image_to_image.steps_run(steps, strength)
    setting = f"image to image, default: {pixel_model}, {scheduler}, {steps} steps at strength {strength:g}, batch 1"
    if only in setting:
        image = image_to_image.prepare(sketch, pixel_model)[0]
        yield common.Row(
            setting,
            lambda: diffusers_call(
                pixel_model,
                image_to_image.PIXEL_CLASSES,
                DDPMPipeline,
                scheduler,
                num_inference_steps=steps_run,
                generator=torch.Generator().manual_seed(0),
            )(),
            lambda: image_to_image.generate_steps(pixel_model, image, strength=strength, scheduler=scheduler),
            lambda: run_image_to_image(pixel_model, editor, "", "", strength, guidance, scheduler, steps, 0, False),
        )
    strength, scheduler, steps = 0.6, text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS
    setting = f"image to image: {latent_model}, {scheduler}, {steps} steps at strength {strength:g}, batch 1"
    if only in setting:
        image = image_to_image.prepare(sketch, latent_model)[0]
        yield common.Row(
            setting,
            lambda: diffusers_call(
                latent_model,
                image_to_image.LATENT_CLASSES,
                StableDiffusionImg2ImgPipeline,
                scheduler,
                prompt=PROMPT,
                image=image,
                strength=strength,
                guidance_scale=guidance,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(0),
            )(),
            lambda: image_to_image.generate_steps(
                latent_model, image, PROMPT, "", strength, guidance, scheduler, steps
            ),
            lambda: run_image_to_image(
                latent_model, editor, PROMPT, "", strength, guidance, scheduler, steps, 0, False
            ),
        )
    setting = f"text to image, default: {latent_model}, {scheduler}, {steps} steps, batch 4"
    if only in setting:
        yield common.Row(
            setting,
            lambda: diffusers_call(
                latent_model,
                text_to_image.PIPELINE_CLASSES,
                StableDiffusionPipeline,
                scheduler,
                prompt=PROMPT,
                guidance_scale=guidance,
                num_inference_steps=steps,
                num_images_per_prompt=4,
                generator=[torch.Generator().manual_seed(index) for index in range(4)],
            )(),
            lambda: text_to_image.generate_steps(latent_model, PROMPT, "", guidance, scheduler, steps, 0, 4),
            lambda: run_text_to_image(latent_model, PROMPT, "", guidance, scheduler, steps, 0, False, 4),
        )


def footer() -> str:
    from gradio_client import handle_file

    from pipelines import image_to_image

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "drawing.png"
        drawing().save(path)
        editor = {"background": handle_file(str(path)), "layers": [], "composite": None}
        model, scheduler = image_to_image.DEFAULT_MODEL, image_to_image.DEFAULT_SCHEDULER
        settings = (model, editor, "", "", image_to_image.DEFAULT_STRENGTH, 5.0, scheduler)
        return common.first_update_over_http(
            "/image_to_image", (*settings, 5, 0, False), (*settings, 50, 0, False), "image to image, default settings"
        )


if __name__ == "__main__":
    common.main(__doc__, rows, footer)
