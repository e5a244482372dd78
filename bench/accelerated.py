"""One UNet call of the embedded latent model: torch eager against its OpenVINO graphs, by row count.

    python -m bench.accelerated            # ~1 minute on 2 CPU cores; a markdown table

Each row count is timed in a fresh process per path, torch's with `DIFFUSION_PLAYGROUND_ACCELERATE=0` (so that
OpenVINO's threads are not there to slow it): the median of 30 calls after 5 warm-up calls, on random inputs of the
shapes the app's passes have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

ROWS = (1, 2, 4, 8, 16, 32, 64)


def time_calls(path: str, rows: int) -> float:
    import statistics

    import torch

    from pipelines import text_to_image
    from pipelines.engine import accelerated, loading, torch_thread

    shared = loading.load_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.PIPELINE_CLASSES)
    unet = accelerated.of(shared.unet) if path == "graph" else shared.unet
    if path == "graph" and unet is shared.unet:
        raise SystemExit("the latent model's UNet has no usable graph here (see the log)")
    tokens = shared.tokenizer.model_max_length
    sample = torch.randn(rows, 4, 8, 8)
    text = torch.randn(rows, tokens, shared.unet.config.cross_attention_dim)
    timesteps = torch.full((rows,), 500.0)

    def timed() -> float:
        seconds = []
        with torch.no_grad():
            for call in range(35):
                started = time.perf_counter()
                unet(sample, timesteps, encoder_hidden_states=text)
                if call >= 5:
                    seconds.append(time.perf_counter() - started)
        return statistics.median(seconds)

    return torch_thread.run(timed)  # where the app runs all torch work (one OpenMP pool of 2 threads)


def main() -> None:
    if len(sys.argv) == 3:  # a worker: one path, one row count
        print(json.dumps(time_calls(sys.argv[1], int(sys.argv[2]))))
        return
    print("| rows | torch eager | OpenVINO graph | torch / graph |\n| --- | --- | --- | --- |")
    for rows in ROWS:
        times = {}
        for path in ("torch", "graph"):
            worker = [sys.executable, "-m", "bench.accelerated", path, str(rows)]
            environment = {**os.environ, "DIFFUSION_PLAYGROUND_ACCELERATE": "0" if path == "torch" else "1"}
            output = subprocess.run(worker, check=True, capture_output=True, text=True, env=environment).stdout
            times[path] = json.loads(output.strip().splitlines()[-1])
        ratio = times["torch"] / times["graph"]
        print(f"| {rows} | {times['torch'] * 1000:.1f} ms | {times['graph'] * 1000:.1f} ms | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
