"""Why all torch work runs on one thread (pipelines/engine/torch_thread.py): one pipeline call, four ways.

    python -m bench.threads        # ~1 minute on 2 CPU cores; run it on a quiet machine

Each case runs in a fresh process: a text-to-image call of the embedded `shapes-sd` (25 steps of
DPM-Solver++, batch 4), 3 times, median reported, on
  main          - the main thread, the process's only torch thread;
  thread        - a second thread, the main thread never having run torch;
  thread, op    - a second thread, after the main thread ran one parallel op (a matmul);
  thread, set   - a second thread that called torch.set_num_threads() with the count it already had.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time

CASES = ["main", "thread", "thread, op", "thread, set"]


def pipeline_seconds(case: str) -> float:
    import torch
    from diffusers import StableDiffusionPipeline

    def calls() -> list[float]:
        if case == "thread, set":
            torch.set_num_threads(torch.get_num_threads())
        pipeline = StableDiffusionPipeline.from_pretrained("assets/models/shapes-sd")
        pipeline.set_progress_bar_config(disable=True)
        times = []
        for _ in range(4):  # the first call warms up
            started = time.perf_counter()
            pipeline("a red circle", num_inference_steps=25, num_images_per_prompt=4)
            times.append(time.perf_counter() - started)
        return times[1:]

    if case == "main":
        return statistics.median(calls())
    if case == "thread, op":
        torch.ones(1000, 1000) @ torch.ones(1000, 1000)
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.extend(calls()))
    worker.start()
    worker.join()
    return statistics.median(result)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        print(pipeline_seconds(sys.argv[2]))
        return
    print("| where the call runs | seconds |\n| --- | --- |")
    for case in CASES:
        output = subprocess.run(
            [sys.executable, "-m", "bench.threads", "--case", case], capture_output=True, text=True, check=True
        )
        print(f"| {case} | {float(output.stdout.split()[-1]):.3f} |", flush=True)


if __name__ == "__main__":
    main()
