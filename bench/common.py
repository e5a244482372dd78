"""What every benchmark shares: rows timed in fresh worker processes, pooled, and written as one table.

Each benchmark module gives its rows (`Row`: a setting and its three calls) and a footer, and
`main` does the rest:

    python -m bench.unconditional --processes 4 --repeats 3   # the defaults

The parent process runs the module again `--processes` times, one worker after the other (two
torch processes at once on 2 cores would slow each other down). Each worker times every row in
rotating rounds (`time_row`) and hands its seconds back as JSON; the parent pools them and then
measures the first update over HTTP itself. Why fresh processes: on this 2-core VM a row's ratio
differs from one process to the next by far more than the overhead measured (the brackets of the
tables in README: Benchmarks; 0.71-1.09 for one row in bench/runs-unconditional.md). As pyperf
does, pooling the rounds of several processes averages that out instead of reporting one
process's luck.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = [
    "| setting | rounds | plain diffusers | generator | app handler | generator / plain | app / plain "
    "| app's result / plain | first frame |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]
SKIPPED = {"__type__": "update"}  # gr.skip(): an output an update leaves as it is
MIN_SECONDS = 5.0  # each worker times each of a row's calls for at least this long: short calls get more rounds
CALLS = ("plain", "generator", "app")
Timings = dict[str, list[float]]  # call -> seconds of each round, and "first frame" -> seconds to the first frame


@dataclass(frozen=True)
class Row:
    """One setting of a benchmark and the three calls it compares."""

    setting: str  # what the table's first column says
    plain: Callable[[], object]  # diffusers' own pipeline call
    generator: Callable[[], Generator]  # the task's generate_steps, to be consumed to the end
    handler: Callable[[], Iterable]  # the app's UI handler, to be consumed to the end


def parse_arguments(description: str | None) -> argparse.Namespace:
    """--processes, --repeats, --threads (set here, before anything runs), --only and --out."""
    from pipelines.engine import torch_thread

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=4, help="fresh worker processes, run one after the other")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per worker, at least (more for short calls)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="only the rows whose setting contains this text")
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # set by the parent: the JSON file for this worker's times
    args = parser.parse_args()
    if args.processes < 1 or args.repeats < 1:
        parser.error("--processes and --repeats must be at least 1")
    torch_thread.set_num_threads(args.threads)
    return args


def main(description: str | None, rows: Callable[[str], Iterator[Row]], footer: Callable[[], str]) -> None:
    """A benchmark's whole run: `rows(only)` timed in worker processes, then `footer()` (HTTP) in this one."""
    args = parse_arguments(description)
    if args.worker:
        timings = {row.setting: time_row(row, args.repeats) for row in rows(args.only)}
        Path(args.worker).write_text(json.dumps(timings))
        return
    workers = []
    for index in range(args.processes):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "timings.json"
            subprocess.run([sys.executable, *sys.orig_argv[1:], "--worker", str(out)], check=True)
            workers.append(json.loads(out.read_text()))
        print(f"worker {index + 1} of {args.processes}: {time.perf_counter() - started:.0f} s", flush=True)
    table_rows = [pooled_row(setting, [worker[setting] for worker in workers]) for setting in workers[0]]
    write_table(table_rows, args, footer())


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def handler_seconds(handler: Callable[[], Iterable]) -> tuple[float, float]:
    """Seconds until the handler's update that shows the result (its third output, the result picture, no longer
    skipped: `ui.stream.stream_frames`), and until its end (after the keepsakes)."""
    started = time.perf_counter()
    result = None
    for update in handler():
        shown = update[2] if isinstance(update, tuple) and len(update) > 2 else SKIPPED
        if result is None and not (isinstance(shown, dict) and shown == SKIPPED):
            result = time.perf_counter() - started
    total = time.perf_counter() - started
    return (total if result is None else result), total


def first_frame_seconds(frames: Callable[[], Generator]) -> float:
    started = time.perf_counter()
    stream = frames()
    next(stream)
    elapsed = time.perf_counter() - started
    stream.close()  # a pipeline's run ends after its current step
    return elapsed


def time_row(row: Row, repeats: int) -> Timings:
    """Seconds of the row's three calls over rounds, and of its first frame, in this process.

    The order of the calls rotates from round to round, so that none is always first, and each
    round's three runs are seconds apart (the ratios are taken per round). There are at least
    `repeats` rounds, and more for short calls (as `timeit` does): enough for `MIN_SECONDS` of
    each, so that a 0.3 s call is not judged on 1 s of noise. The plain call runs on the app's
    torch thread too (`pipelines.engine.torch_thread`): torch work on two threads of one process makes two
    OpenMP pools, which slows both.
    """
    from pipelines.engine import torch_thread

    runs = {
        "plain": functools.partial(torch_thread.run, row.plain),
        "generator": lambda: list(row.generator()),
        "app": lambda: list(row.handler()),
    }
    for run in runs.values():  # warm-up: first calls allocate, first frames of a task load what they need
        run()
    rounds = max(repeats, math.ceil(MIN_SECONDS / seconds(runs["plain"])))
    timings: Timings = {name: [] for name in CALLS}
    timings["result"] = []  # within the app's runs: the result shown, before its keepsakes are written
    for round_index in range(rounds):
        shift = round_index % len(CALLS)
        for name in CALLS[shift:] + CALLS[:shift]:
            if name == "app":
                result, total = handler_seconds(row.handler)
                timings["result"].append(result)
                timings["app"].append(total)
            else:
                timings[name].append(seconds(runs[name]))
    timings["first frame"] = [first_frame_seconds(row.generator) for _ in range(repeats)]
    return timings


def round_ratios(timings: Timings, name: str) -> list[float]:
    return [time / plain_time for time, plain_time in zip(timings[name], timings["plain"])]


def pooled_row(setting: str, workers: list[Timings]) -> str:
    """A table row from every worker's rounds: medians of all the rounds, and in brackets the spread of the
    workers' own median ratios (how far one process's answer could have been off).

    No ratio of fastest runs: on this VM a call's fastest run is as much luck as its slowest (a generator, which
    does more work than the plain call, had fastest runs from 0.91 to 1.14 times the plain call's fastest)."""
    rounds = sum(len(timings["plain"]) for timings in workers)
    median = {
        name: statistics.median(value for timings in workers for value in timings[name])
        for name in (*CALLS, "first frame")
    }

    def ratio(name: str) -> str:
        pooled = statistics.median(value for timings in workers for value in round_ratios(timings, name))
        per_worker = [statistics.median(round_ratios(timings, name)) for timings in workers]
        return f"{pooled:.3f} ({min(per_worker):.2f}–{max(per_worker):.2f})"

    return (
        f"| {setting} | {rounds} | {median['plain']:.3f} s | {median['generator']:.3f} s | {median['app']:.3f} s "
        f"| {ratio('generator')} | {ratio('app')} | {ratio('result')} | {median['first frame'] * 1000:.0f} ms |"
    )


def first_update_over_http(
    api_name: str, warm_up: tuple, inputs: tuple, described: str, port: int = 7899, jobs: int = 3
) -> str:
    """The median time from submitting a job (`inputs`, `described` in words) to its first streamed update,
    through gradio_client and a real server, as a footer line."""
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
        delay_ms = statistics.median(delays) * 1000
        return f"First streamed update through gradio_client, median of {jobs} jobs ({described}): {delay_ms:.0f} ms."
    finally:
        app.demo.close()


def write_table(rows: list[str], args: argparse.Namespace, footer: str) -> None:
    """Print the markdown table of a benchmark run (and write it to `--out`), with peak RSS in its footer."""
    import torch

    from pipelines.engine import torch_thread

    worker_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker's peak
    table = "\n".join(
        [
            f"{torch_thread.run(torch.get_num_threads)} torch threads, torch {torch.__version__}, all torch work on "
            f"one thread; {args.processes} fresh worker processes, each timing every row in at least {args.repeats} "
            "rounds. Times: medians of all rounds. Ratios: medians of all rounds' own ratios; in brackets, the "
            "lowest and highest of the workers' medians.",
            "",
            *HEADER,
            *rows,
            "",
            f"{footer} Peak RSS of a worker process: {worker_rss_mb:.0f} MB.",
        ]
    )
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
