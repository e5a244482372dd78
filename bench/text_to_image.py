"""Streaming overhead of the Text to image and Inpainting tabs against plain diffusers, in one run.

    python -m bench.text_to_image               # ~10 minutes on 2 CPU cores; run it on a quiet machine
    python -m bench.text_to_image --processes 4 --repeats 3 --out bench/results-latent.md

For each setting, in rounds in fresh worker processes (medians reported; see bench.common):
  plain     - diffusers' own StableDiffusionPipeline / StableDiffusionInpaintPipeline call, same settings;
  generator - pipelines.text_to_image / inpainting generate_steps consumed to the end (x̂0 decoded lazily:
              only the last frame's images, which are the pipeline's own output);
  app       - the UI handler: ~10 frames a second, x̂0 decoded for as many of them as 4 % of the
              time allows (pipelines.engine.frames.Throttle), grids, status lines;
and the time to the first frame, and to the first update of the app over HTTP (gradio_client).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline
from PIL import Image

from bench import common

PROMPT = "a large red circle on the left"
SETTINGS = [  # (task, scheduler, steps, batch size)
    ("text to image", "DPM-Solver++", 25, 4),  # the app's default
    ("text to image", "DDIM", 50, 8),
    ("text to image", "DDPM", 1000, 1),
    ("inpainting", "DPM-Solver++", 25, 1),  # the app's default
]


def example_inputs(size: int) -> tuple[Image.Image, Image.Image]:
    """The first example scene and a mask over its left half."""
    from tabs.inpainting import EXAMPLE_SCENES

    image = Image.open(EXAMPLE_SCENES[0]).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    mask = np.zeros((size, size), np.uint8)
    mask[:, : size // 2] = 255
    return image, Image.fromarray(mask, "L")


def rows(only: str) -> Iterator[common.Row]:
    from pipelines import inpainting, text_to_image
    from pipelines.engine.loading import load_pipeline, make_scheduler
    from tabs import inpainting as inpainting_tab
    from tabs import text_to_image as text_to_image_tab

    model, guidance = text_to_image.DEFAULT_MODEL, text_to_image.DEFAULT_GUIDANCE_SCALE
    shared = load_pipeline(model, text_to_image.PIPELINE_CLASSES)
    image, mask = example_inputs(inpainting.model_size(model)[0])
    editor = {"background": image, "layers": [Image.merge("RGBA", [mask] * 4)]}
    for task, scheduler, steps, batch_size in SETTINGS:
        setting = f"{task}: {scheduler}, {steps} steps, batch {batch_size}"
        if only not in setting:
            continue
        settings = {"guidance_scale": guidance, "num_inference_steps": steps, "num_images_per_prompt": batch_size}
        if task == "inpainting":
            plain_class = StableDiffusionInpaintPipeline
            # zoomed, as the app's default: the box around the mask, enlarged (the output must then be PIL)
            settings.update(image=image, mask_image=mask, padding_mask_crop=1, output_type="pil")

            def streamed(scheduler=scheduler, steps=steps):
                return inpainting.generate_steps(model, image, mask, PROMPT, "", 1.0, guidance, scheduler, steps)

            def handler(scheduler=scheduler, steps=steps):
                return inpainting_tab.run_inpainting(
                    model, editor, PROMPT, "", 1.0, True, guidance, scheduler, steps, 0, False
                )
        else:
            plain_class = StableDiffusionPipeline

            def streamed(scheduler=scheduler, steps=steps, batch_size=batch_size):
                return text_to_image.generate_steps(model, PROMPT, "", guidance, scheduler, steps, 0, batch_size)

            def handler(scheduler=scheduler, steps=steps, batch_size=batch_size):
                return text_to_image_tab.run_text_to_image(
                    model, PROMPT, "", guidance, scheduler, steps, 0, False, batch_size
                )

        def plain(scheduler=scheduler, batch_size=batch_size, plain_class=plain_class, settings=settings):
            plain_scheduler = make_scheduler(scheduler, shared.scheduler.config, plain=True)
            pipeline = plain_class.from_pipe(shared, scheduler=plain_scheduler)
            pipeline.set_progress_bar_config(disable=True)
            generator = [torch.Generator().manual_seed(index) for index in range(batch_size)]
            return pipeline(PROMPT, generator=generator, **{"output_type": "np", **settings})

        yield common.Row(setting, plain, streamed, handler)


def footer() -> str:
    from pipelines import text_to_image

    model, guidance = text_to_image.DEFAULT_MODEL, text_to_image.DEFAULT_GUIDANCE_SCALE
    defaults = (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS)
    return common.first_update_over_http(
        "/text_to_image",
        (model, PROMPT, "", guidance, defaults[0], 2, 0, False, 1),
        (model, PROMPT, "", guidance, *defaults, 0, False, 4),
        "text to image, default settings, batch 4",
    )


if __name__ == "__main__":
    common.main(__doc__, rows, footer)
