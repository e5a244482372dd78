"""Streaming overhead of the Super-resolution tab against plain diffusers, in one run.

    python -m bench.super_resolution               # ~12 minutes on 2 CPU cores; run it on a quiet machine
    python -m bench.super_resolution --processes 4 --repeats 3 --out bench/results-super-resolution.md

For each setting, a 64x64 example photo upscaled to 256x256, in rounds in fresh worker processes
(medians reported; see bench.common):
  plain     - the pipeline's own call (`ResidualSuperResolutionPipeline.__call__`), same scheduler, steps and seed;
  generator - pipelines.super_resolution.generate_steps consumed to the end (the last frame's x̂0 is the
              result, back-projected onto the photo as by default);
  app       - the UI handler: x_t and x̂0 shown ~10 times a second (pipelines.engine.frames.Throttle), the
              bicubic comparison, status lines, the run's keepsakes;
each drawing one sample, or the mean of 8 as the tab's default does;
and the time to the first frame, and to the first update of the app over HTTP (gradio_client).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from gradio_client import handle_file
from PIL import Image

from bench import common

SETTINGS = [  # (scheduler, steps, samples averaged)
    ("DDIM", 1, 8),  # the app's default
    ("DDIM", 1, 1),
    ("DDIM", 20, 1),
    ("DDIM", 100, 1),
    ("DDPM", 250, 1),  # a long run (DDPM's 1000 would take a minute a call, 15 minutes for the row)
]


def rows(only: str) -> Iterator[common.Row]:
    import app  # noqa: F401 - builds the UI, as served
    from pipelines import super_resolution
    from pipelines.engine.loading import load_pipeline, make_scheduler
    from pipelines.models.residual_super_resolution import ResidualSuperResolutionPipeline
    from tabs import super_resolution as tab

    model = super_resolution.DEFAULT_MODEL
    shared = load_pipeline(model, super_resolution.PIPELINE_CLASSES)
    photo = Image.open(next(path for path in tab.EXAMPLE_PHOTOS if "rocket" in path)).convert("RGB")  # 64x64
    for scheduler, steps, samples in SETTINGS:
        setting = f"64×64 → 256×256: {scheduler}, {steps} steps, {samples} sample{'s' if samples > 1 else ''}"
        if only not in setting:
            continue

        def plain(scheduler=scheduler, steps=steps, samples=samples):
            pipeline = ResidualSuperResolutionPipeline(
                unet=shared.unet,
                scheduler=make_scheduler(scheduler, shared.scheduler.config, plain=True),
                residual_scale=shared.config.residual_scale,
            )
            pipeline.set_progress_bar_config(disable=True)
            generator = torch.Generator().manual_seed(0)
            return pipeline(photo, num_inference_steps=steps, generator=generator, samples=samples)

        def streamed(scheduler=scheduler, steps=steps, samples=samples):
            return super_resolution.generate_steps(model, photo, scheduler, steps, seed=0, samples=samples)

        def handler(scheduler=scheduler, steps=steps, samples=samples):
            settings = (0.0, 0, False, "", 5.0, 20, True, samples)
            return tab.run_super_resolution(model, photo, scheduler, steps, *settings)

        yield common.Row(setting, plain, streamed, handler)


def footer() -> str:
    from pipelines import super_resolution
    from tabs import super_resolution as tab

    model, upload = super_resolution.DEFAULT_MODEL, handle_file(tab.EXAMPLE_PHOTOS[0])  # the 96x96 astronaut
    defaults = (super_resolution.DEFAULT_SCHEDULER, super_resolution.DEFAULT_STEPS, super_resolution.DEFAULT_ETA)
    return common.first_update_over_http(
        "/super_resolution",
        (model, upload, defaults[0], 2, 0.0, 0, False, "", 5.0, 20),
        (model, upload, *defaults, 0, False, "", 5.0, 20),
        "96×96 photo, default settings",
    )


if __name__ == "__main__":
    common.main(__doc__, rows, footer)
