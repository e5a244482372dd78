"""Streaming overhead of the Unconditional tab against plain diffusers, in one run on one machine.

    python -m bench.unconditional              # ~10 minutes on 2 CPU cores; run it on a quiet machine
    python -m bench.unconditional --processes 4 --repeats 3 --out bench/results.md

For each setting it times, in rounds in fresh worker processes (medians reported; see bench.common):
  plain     - diffusers' own DDPMPipeline / DDIMPipeline call with the same scheduler and steps;
  generator - pipelines.unconditional.generate_steps consumed to the end (every step's frame made);
  app       - tabs.unconditional.run_unconditional, the UI handler: throttled frames, grids, status lines;
and the time to the first frame: of the generator, and of the app served on localhost as seen by
gradio_client.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from diffusers import DDIMPipeline, DDPMPipeline

from bench import common

SETTINGS = [  # (scheduler, steps, batch size, the diffusers pipeline class that runs the same loop)
    ("DPM-Solver++ SDE", 50, 4, DDPMPipeline),  # the app's default
    ("DDIM", 50, 8, DDIMPipeline),
    ("DDPM", 1000, 1, DDPMPipeline),  # the full Markov chain of Ho et al. 2020
]


def rows(only: str) -> Iterator[common.Row]:
    from pipelines.engine.loading import load_pipeline, make_scheduler
    from pipelines.unconditional import DEFAULT_MODEL, PIPELINE_CLASSES, generate_steps
    from tabs.unconditional import run_unconditional

    shared = load_pipeline(DEFAULT_MODEL, PIPELINE_CLASSES)
    for scheduler, steps, batch_size, pipeline_class in SETTINGS:
        setting = f"{scheduler}, {steps} steps, batch {batch_size}"
        if only not in setting:
            continue

        def plain(scheduler=scheduler, steps=steps, batch_size=batch_size, pipeline_class=pipeline_class):
            noise_scheduler = make_scheduler(scheduler, shared.scheduler.config, plain=True)
            pipeline = pipeline_class(unet=shared.unet, scheduler=noise_scheduler)
            pipeline.set_progress_bar_config(disable=True)
            generator = [torch.Generator().manual_seed(index) for index in range(batch_size)]
            return pipeline(batch_size=batch_size, num_inference_steps=steps, generator=generator, output_type="np")

        def streamed(scheduler=scheduler, steps=steps, batch_size=batch_size):
            return generate_steps(DEFAULT_MODEL, scheduler, steps, seed=0, batch_size=batch_size)

        def handler(scheduler=scheduler, steps=steps, batch_size=batch_size):
            return run_unconditional(DEFAULT_MODEL, scheduler, steps, 0, False, batch_size)

        yield common.Row(setting, plain, streamed, handler)


def footer() -> str:
    from pipelines.unconditional import DEFAULT_MODEL, DEFAULT_SCHEDULER, DEFAULT_STEPS

    default = (DEFAULT_MODEL, DEFAULT_SCHEDULER, DEFAULT_STEPS)
    warm_up, inputs = (*default[:2], 2, 0, False, 1), (*default, 0, False, 4)
    return common.first_update_over_http("/unconditional", warm_up, inputs, "app default settings")


if __name__ == "__main__":
    common.main(__doc__, rows, footer)
