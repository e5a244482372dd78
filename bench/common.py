"""Timing helpers shared by the benchmarks: interleaved medians, first frames, first updates over HTTP."""

from __future__ import annotations

import argparse
import functools
import math
import resource
import statistics
import time
from collections.abc import Callable, Generator, Iterable

HEADER = [
    "| setting | rounds | plain diffusers | generator | app handler | generator / plain | app / plain | first frame |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
]
MIN_SECONDS = 10.0  # each of a row's three runs is timed for at least this long in all: short calls get more rounds


def parse_arguments(description: str | None) -> argparse.Namespace:
    """--repeats, --threads (set here, before anything runs), --out and --only, shared by every benchmark."""
    from pipelines import torch_thread

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--only", default="", help="only the rows whose setting contains this text")
    args = parser.parse_args()
    torch_thread.set_num_threads(args.threads)
    return args


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def first_frame_seconds(frames: Callable[[], Generator]) -> float:
    started = time.perf_counter()
    stream = frames()
    next(stream)
    elapsed = time.perf_counter() - started
    stream.close()  # a pipeline's run ends after its current step
    return elapsed


def compare_row(
    setting: str, plain: Callable, generator: Callable[[], Generator], handler: Callable[[], Iterable], repeats: int
) -> str:
    """One table row: medians over rounds of the plain call, the generator and the app handler.

    The ratios are medians of each round's own ratios: on this 2-core VM the same call can take 9.0 s
    once and 7.0 s a minute later (README: Benchmarks), so each round's three runs are compared with
    each other only, and the order in which they run rotates from round to round, so that none is
    always first. There are at least `repeats` rounds, and more for short calls (as `timeit` does):
    enough for `MIN_SECONDS` of each, so that a 0.3 s call is not judged on 1.5 s of noise.
    The plain call runs on the app's torch thread too (`pipelines.torch_thread`): torch work on two
    threads of one process makes two OpenMP pools, which slows both.
    """
    from pipelines import torch_thread

    runs = {
        "plain": functools.partial(torch_thread.run, plain),
        "generator": lambda: list(generator()),
        "app": lambda: list(handler()),
    }
    for run in runs.values():  # warm-up: first calls allocate, first frames of a task load what they need
        run()
    rounds = max(repeats, math.ceil(MIN_SECONDS / seconds(runs["plain"])))
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(seconds(runs[name]))
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = {
        name: statistics.median(time / plain_time for time, plain_time in zip(times[name], times["plain"]))
        for name in ("generator", "app")
    }
    first = statistics.median(first_frame_seconds(generator) for _ in range(repeats))
    return (
        f"| {setting} | {rounds} | {median['plain']:.3f} s | {median['generator']:.3f} s | {median['app']:.3f} s "
        f"| {ratio['generator']:.3f} | {ratio['app']:.3f} | {first * 1000:.0f} ms |"
    )


def first_update_over_http(api_name: str, warm_up: tuple, inputs: tuple, port: int = 7899, jobs: int = 3) -> float:
    """Median seconds from submitting a job to its first streamed update, through gradio_client and a real server."""
    from gradio_client import Client

    import app

    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(*warm_up, api_name=api_name)
        delays = []
        for _ in range(jobs):
            started = time.perf_counter()
            job = client.submit(*inputs, api_name=api_name)
            while not job.outputs() and not job.done():
                time.sleep(0.002)
            delays.append(time.perf_counter() - started)
            job.result()  # the next job starts on a quiet server
        return statistics.median(delays)
    finally:
        app.demo.close()


def write_table(rows: list[str], repeats: int, footer: str, out: str | None) -> None:
    """Print the markdown table of a benchmark run (and write it to `out`), with peak RSS in its footer."""
    import torch

    from pipelines import torch_thread

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = "\n".join(
        [
            f"{torch_thread.run(torch.get_num_threads)} torch threads, torch {torch.__version__}; "
            f"medians over the rounds (at least {repeats}; ratios: medians of each round's own), "
            "all torch work on one thread.",
            "",
            *HEADER,
            *rows,
            "",
            f"{footer} Peak RSS of the whole benchmark process: {peak_rss_mb:.0f} MB.",
        ]
    )
    print(table)
    if out:
        with open(out, "w") as file:
            file.write(table + "\n")
