"""Streaming overhead of the Unconditional tab against plain diffusers, in one run on one machine.

    python -m bench.unconditional              # ~3 minutes on 2 CPU cores; run it on a quiet machine
    python -m bench.unconditional --repeats 5 --out bench/results.md

For each setting it times, interleaved and `--repeats` times (medians reported):
  plain     - diffusers' own DDPMPipeline / DDIMPipeline call with the same scheduler and steps;
  generator - pipelines.unconditional.generate_steps consumed to the end (every step's frame made);
  app       - app.run_unconditional, the UI handler: throttled frames, grids, status lines;
and the time to the first frame: of the generator, and of the app served on localhost as seen by
gradio_client. Peak RSS is the whole process's, after everything ran.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import torch
from diffusers import DDIMPipeline, DDPMPipeline

SETTINGS = [  # (scheduler, steps, batch size, the diffusers pipeline class that runs the same loop)
    ("DPM-Solver++ SDE", 50, 4, DDPMPipeline),  # the app's default
    ("DDIM", 50, 8, DDIMPipeline),
    ("DDPM", 1000, 1, DDPMPipeline),  # the full Markov chain of Ho et al. 2020
]


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def first_frame_seconds(iterator_factory: Callable[[], object]) -> float:
    started = time.perf_counter()
    next(iter(iterator_factory()))
    return time.perf_counter() - started


def first_update_over_http(scheduler: str, steps: int, batch_size: int) -> float:
    """Seconds from submitting a job to the first streamed update, through gradio_client and a real server."""
    from gradio_client import Client

    import app

    app.launch(server_name="127.0.0.1", server_port=7899, prevent_thread_lock=True, quiet=True)
    try:
        client = Client("http://127.0.0.1:7899/", verbose=False)
        client.predict("shapes-ddpm", scheduler, 2, 0, False, 1, api_name="/unconditional")  # warm-up
        started = time.perf_counter()
        job = client.submit("shapes-ddpm", scheduler, steps, 0, False, batch_size, api_name="/unconditional")
        while not job.outputs() and not job.done():
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        app.demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from app import run_unconditional
    from pipelines.loading import load_pipeline, make_scheduler
    from pipelines.unconditional import DEFAULT_MODEL, PIPELINE_CLASSES, generate_steps

    shared = load_pipeline(DEFAULT_MODEL, PIPELINE_CLASSES)
    rows = []
    for scheduler, steps, batch_size, pipeline_class in SETTINGS:
        repeats = max(1, args.repeats // 2) if steps >= 1000 else args.repeats

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

        plain()  # warm-up: first calls allocate
        times: dict[str, list[float]] = {"plain": [], "generator": [], "app": []}
        for _ in range(repeats):  # interleaved, so that drift of the machine hits all three alike
            times["plain"].append(seconds(plain))
            times["generator"].append(seconds(lambda: list(streamed())))
            times["app"].append(seconds(lambda: list(handler())))
        median = {name: statistics.median(values) for name, values in times.items()}
        first = statistics.median(first_frame_seconds(streamed) for _ in range(repeats))
        plain_time, generator_time, app_time = median["plain"], median["generator"], median["app"]
        rows.append(
            f"| {scheduler}, {steps} steps, batch {batch_size} | {plain_time:.3f} s | {generator_time:.3f} s "
            f"| {app_time:.3f} s | {generator_time / plain_time:.3f} | {app_time / plain_time:.3f} "
            f"| {first * 1000:.0f} ms |"
        )
        print(rows[-1], flush=True)

    http_first = first_update_over_http("DPM-Solver++ SDE", 50, 4)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = "\n".join(
        [
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}; medians of {args.repeats} runs.",
            "",
            "| setting | plain diffusers | generator | app handler | generator / plain | app / plain | first frame |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"First streamed update through gradio_client (app default settings): {http_first * 1000:.0f} ms. "
            f"Peak RSS of the whole benchmark process: {peak_rss_mb:.0f} MB.",
        ]
    )
    print(table)
    if args.out:
        with open(args.out, "w") as file:
            file.write(table + "\n")


if __name__ == "__main__":
    main()
