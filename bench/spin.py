"""How long torch's idle OpenMP workers spin (pipelines/__init__.py sets GOMP_SPINCOUNT): one default run, three ways.

    python -m bench.spin              # quiet machine: ~1 minute on 2 CPU cores
    python -m bench.spin --busy 1     # beside one busy process (a stand-in for a training job, another user)

Each setting runs in a fresh process: the app's default unconditional run (`pipelines.unconditional.generate`)
and text-to-image run (`pipelines.text_to_image.generate`, batch 4), 5 times after a warm-up, median reported.
`--busy N` starts N processes that keep one core busy each (a pure-Python loop) for the whole measurement.
libgomp's idle workers spin 300,000 times (its default) before they sleep; a spin count of 0 (PASSIVE) wakes
them by futex at every parallel region, which costs the many small ops of these models dearly; a short spin keeps
the quiet machine's speed and, when a core is taken, sleeps instead of spinning away the other's time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

SETTINGS = {"libgomp's default (300000)": "300000", "app's setting (10000)": "10000", "PASSIVE (0)": "0"}
MEASURE = """
import os, statistics, time
from pipelines import text_to_image, unconditional
for name, call in (("unconditional", unconditional.generate),
                   ("text to image", lambda: text_to_image.generate(prompt="a red circle", batch_size=4))):
    call()
    times = []
    for _ in range(5):
        started = time.perf_counter(); call(); times.append(time.perf_counter() - started)
    print(name, statistics.median(times), flush=True)
os._exit(0)  # the torch thread is a daemon paused in a greenlet: no interpreter shutdown for it
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=0, help="processes that keep a core busy meanwhile (0-4)")
    args = parser.parse_args()
    if not 0 <= args.busy <= 4:
        parser.error("--busy takes 0 to 4")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    rows = ["| GOMP_SPINCOUNT | unconditional (default) | text to image (batch 4) |", "| --- | --- | --- |"]
    try:
        for label, count in SETTINGS.items():
            started = time.perf_counter()
            output = subprocess.run(
                [sys.executable, "-c", MEASURE],
                env={**os.environ, "GOMP_SPINCOUNT": count},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            medians = {
                name: float(seconds)
                for name, seconds in (line.rsplit(" ", 1) for line in output.splitlines())
                if name in ("unconditional", "text to image")
            }
            rows.append(f"| {label} | {medians['unconditional']:.2f} s | {medians['text to image']:.2f} s |")
            print(rows[-1], f"({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        for process in busy:
            process.kill()
    print(f"\n{args.busy} busy process(es) beside it; {os.cpu_count()} CPU cores\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
