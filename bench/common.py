"""Timing helpers shared by the benchmarks: interleaved medians, first frames, first updates over HTTP."""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import time
from collections.abc import Callable, Generator, Iterable

HEADER = [
    "| setting | plain diffusers | generator | app handler | generator / plain | app / plain | first frame |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]


def parse_arguments(description: str | None) -> argparse.Namespace:
    """--repeats, --threads (set here, before anything runs) and --out, shared by every benchmark."""
    from pipelines import torch_thread

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the markdown table here")
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
    """One table row: medians of `repeats` interleaved runs of the plain call, the generator and the app handler.

    The plain call runs on the app's torch thread too (`pipelines.torch_thread`): torch work on two threads
    of one process makes two OpenMP pools, which slows both (README: Benchmarks).
    """
    from pipelines import torch_thread

    plain_on_torch_thread = functools.partial(torch_thread.run, plain)
    plain_on_torch_thread()  # warm-up: first calls allocate
    times: dict[str, list[float]] = {"plain": [], "generator": [], "app": []}
    for _ in range(repeats):  # interleaved, so that drift of the machine hits all three alike
        times["plain"].append(seconds(plain_on_torch_thread))
        times["generator"].append(seconds(lambda: list(generator())))
        times["app"].append(seconds(lambda: list(handler())))
    median = {name: statistics.median(values) for name, values in times.items()}
    first = statistics.median(first_frame_seconds(generator) for _ in range(repeats))
    plain_time, generator_time, app_time = median["plain"], median["generator"], median["app"]
    return (
        f"| {setting} | {plain_time:.3f} s | {generator_time:.3f} s | {app_time:.3f} s "
        f"| {generator_time / plain_time:.3f} | {app_time / plain_time:.3f} | {first * 1000:.0f} ms |"
    )


def first_update_over_http(api_name: str, warm_up: tuple, inputs: tuple, port: int = 7899) -> float:
    """Seconds from submitting a job to its first streamed update, through gradio_client and a real server."""
    from gradio_client import Client

    import app

    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(*warm_up, api_name=api_name)
        started = time.perf_counter()
        job = client.submit(*inputs, api_name=api_name)
        while not job.outputs() and not job.done():
            time.sleep(0.002)
        return time.perf_counter() - started
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
            f"medians of {repeats} runs, all torch work on one thread.",
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
