"""The load test's class without Gradio: the same students' runs called in-process, to tell the torch thread's share.

    flock /tmp/heavy.lock python -m bench.in_process --students 30

N students as in `bench/load.py` (half Unconditional, half Text to image, the tabs' defaults, a seed each), but
each run is its task's `generate_steps`, consumed by a thread of its own as a Gradio worker thread would consume
it: no HTTP, no queue, no PNG encoding of frames. Reports the wall time of the N runs one after another and all
at once, and p50 / p95 time to the first frame and to the last. What `bench/load.py` measures beyond these
figures is the web server's (Gradio's queue, the streamed updates, the clients).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterator

from bench.load import PROMPTS, TAB_BATCH_SIZE, percentiles
from pipelines import text_to_image, unconditional


def student_runs(students: int) -> list[Callable[[], Iterator]]:
    """Each student's run, as `bench.load.student_requests` makes them (without the other tabs)."""
    runs = []
    for index in range(students):
        if index % 2 == 0:
            settings = {"seed": index, "batch_size": TAB_BATCH_SIZE}
            runs.append(lambda settings=settings: unconditional.generate_steps(**settings))
        else:
            settings = {"prompt": PROMPTS[index // 2 % len(PROMPTS)], "seed": index, "batch_size": TAB_BATCH_SIZE}
            runs.append(lambda settings=settings: text_to_image.generate_steps(**settings))
    return runs


def consume(run: Callable[[], Iterator], times: dict[str, float], started: float) -> None:
    for _ in run():
        times.setdefault("first_frame", time.perf_counter() - started)
    times["finished"] = time.perf_counter() - started


def phase(runs: list[Callable[[], Iterator]], concurrent: bool) -> tuple[float, list[dict[str, float]]]:
    """The runs all at once (a thread each) or one after another; the wall time and each run's times."""
    times = [{} for _ in runs]
    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=consume, args=(run, got, started)) for run, got in zip(runs, times)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for run, got in zip(runs, times):
            consume(run, got, time.perf_counter())
    return time.perf_counter() - started, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[30])
    args = parser.parse_args()
    if any(not 1 <= students <= 60 for students in args.students):
        parser.error("--students must be between 1 and 60")
    phase(student_runs(2), concurrent=False)  # loads both models
    print("| students | concurrent | one after another | speedup | first frame p50 / p95 | last frame p50 / p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for students in args.students:
        runs = student_runs(students)
        sequential, _ = phase(runs, concurrent=False)
        concurrent, times = phase(runs, concurrent=True)
        first = percentiles([got["first_frame"] for got in times])
        last = percentiles([got["finished"] for got in times])
        print(
            f"| {students} | {concurrent:.1f} s | {sequential:.1f} s | {sequential / concurrent:.2f}x | {first} "
            f"| {last} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
