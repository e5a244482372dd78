"""Streaming overhead of the Unconditional tab against plain diffusers, in one run on one machine.

    python -m bench.unconditional              # ~3 minutes on 2 CPU cores; run it on a quiet machine
    python -m bench.unconditional --repeats 5 --out bench/results.md

For each setting it times, in `--repeats` rounds (medians reported; see bench.common.compare_row):
  plain     - diffusers' own DDPMPipeline / DDIMPipeline call with the same scheduler and steps;
  generator - pipelines.unconditional.generate_steps consumed to the end (every step's frame made);
  app       - app.run_unconditional, the UI handler: throttled frames, grids, status lines;
and the time to the first frame: of the generator, and of the app served on localhost as seen by
gradio_client. Peak RSS is the whole process's, after everything ran.
"""

from __future__ import annotations

import torch
from diffusers import DDIMPipeline, DDPMPipeline

from bench.common import compare_row, first_update_over_http, parse_arguments, write_table

SETTINGS = [  # (scheduler, steps, batch size, the diffusers pipeline class that runs the same loop)
    ("DPM-Solver++ SDE", 50, 4, DDPMPipeline),  # the app's default
    ("DDIM", 50, 8, DDIMPipeline),
    ("DDPM", 1000, 1, DDPMPipeline),  # the full Markov chain of Ho et al. 2020
]


def main() -> None:
    args = parse_arguments(__doc__)

    from app import run_unconditional
    from pipelines.loading import load_pipeline, make_scheduler
    from pipelines.unconditional import (
        DEFAULT_MODEL,
        DEFAULT_SCHEDULER,
        DEFAULT_STEPS,
        PIPELINE_CLASSES,
        generate_steps,
    )

    shared = load_pipeline(DEFAULT_MODEL, PIPELINE_CLASSES)
    rows = []
    for scheduler, steps, batch_size, pipeline_class in SETTINGS:
        setting = f"{scheduler}, {steps} steps, batch {batch_size}"
        if args.only not in setting:
            continue

        def plain(scheduler=scheduler, steps=steps, batch_size=batch_size, pipeline_class=pipeline_class):
            noise_scheduler = make_scheduler(scheduler, shared.scheduler.config)
            pipeline = pipeline_class(unet=shared.unet, scheduler=noise_scheduler)
            pipeline.set_progress_bar_config(disable=True)
            generator = [torch.Generator().manual_seed(index) for index in range(batch_size)]
            return pipeline(batch_size=batch_size, num_inference_steps=steps, generator=generator, output_type="np")

        def streamed(scheduler=scheduler, steps=steps, batch_size=batch_size):
            return generate_steps(DEFAULT_MODEL, scheduler, steps, seed=0, batch_size=batch_size)

        def handler(scheduler=scheduler, steps=steps, batch_size=batch_size):
            return run_unconditional(DEFAULT_MODEL, scheduler, steps, 0, False, batch_size)

        rows.append(compare_row(setting, plain, streamed, handler, args.repeats))
        print(rows[-1], flush=True)

    default = (DEFAULT_MODEL, DEFAULT_SCHEDULER, DEFAULT_STEPS)
    http_first = first_update_over_http("/unconditional", (*default[:2], 2, 0, False, 1), (*default, 0, False, 4))
    footer = (
        "First streamed update through gradio_client, median of 3 jobs (app default settings): "
        f"{http_first * 1000:.0f} ms."
    )
    write_table(rows, args.repeats, footer, args.out)


if __name__ == "__main__":
    main()
