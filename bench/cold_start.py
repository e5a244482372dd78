"""Cold start: from a fresh server to a served page, and to the first default result of the tabs whose model loads.

    python -m bench.cold_start --starts 3 --out bench/results-cold-start.md    # ~3 minutes on 2 CPU cores
    python -m bench.cold_start --starts 3 --after 15                           # a visitor who comes 15 s later

Each start is a fresh server on a free localhost port, of three kinds in turn: `python app.py` (as a Space runs it:
the UNets' OpenVINO graphs, and the embedded models loaded in the background as it starts, `gpu.warm_up`); the same
without that warm-up (`app.launch()`: a model loads at its first run); and torch without graphs
(`DIFFUSION_PLAYGROUND_ACCELERATE=0`, no warm-up). Seconds from the process's start until the page is served (HTTP 200
for /); then, `--after` seconds later, a visitor asks through gradio_client for Unconditional's default run (the first
tab) and then Text to image's: the seconds from their asking to each result. Medians of the starts, the lowest and
highest in brackets.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

DEADLINE = 300  # seconds for a start's every step: a slow machine is slow, a hung one is reported
PROMPT = "a large red circle on the left"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def page_served(url: str, started: float) -> float:
    while time.perf_counter() - started < DEADLINE:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"no page at {url} within {DEADLINE} s")


KINDS = {  # what starts the server, and its environment
    "`python app.py`: graphs, warm-up": (["app.py"], {}),
    "graphs, no warm-up": (["-c", "import app; app.launch()"], {}),
    "torch, no warm-up": (["-c", "import app; app.launch()"], {"DIFFUSION_PLAYGROUND_ACCELERATE": "0"}),
}


def one_start(kind: str, after: float) -> dict[str, float]:
    """A fresh server: the seconds from its start to its page, then from a visitor's asking `after` seconds later
    to each default's result."""
    from gradio_client import Client

    from pipelines.defaults import text_to_image, unconditional

    port = free_port()
    arguments, variables = KINDS[kind]
    environment = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), **variables}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, *arguments], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        times = {"page": page_served(url, started)}
        time.sleep(after)
        client = Client(url, verbose=False, download_files=False)
        pixel = (unconditional.DEFAULT_MODEL, unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS, 0)
        text = (text_to_image.DEFAULT_MODEL, PROMPT, "", text_to_image.DEFAULT_GUIDANCE_SCALE)
        text += (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS, 0, False, 4)
        asked = time.perf_counter()
        client.submit(*pixel, False, 4, api_name="/unconditional").result(timeout=DEADLINE)
        times["unconditional"] = time.perf_counter() - asked
        client.submit(*text, api_name="/text_to_image").result(timeout=DEADLINE)
        times["text to image"] = time.perf_counter() - asked
        return times
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="fresh starts of each kind")
    parser.add_argument("--after", type=float, default=0.0, help="seconds the visitor comes after the page")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    starts: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for index in range(args.starts):
        for kind in KINDS:
            starts[kind].append(one_start(kind, args.after))
            print(f"start {index + 1} of {args.starts}: {kind}", file=sys.stderr)
    steps = ("page", "unconditional", "text to image")
    lines = [
        f"`python -m bench.cold_start --starts {args.starts} --after {args.after:g}`: seconds from a fresh server's",
        f"start until its page is served; then, from a visitor's asking {args.after:g} s later, until Unconditional's",
        "default result (the first tab), then Text to image's, asked one after the other. Medians of the starts",
        "(lowest-highest).",
        "",
        "| server | page served | Unconditional's result | then Text to image's |",
        "| --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        cells = []
        for step in steps:
            values = [start[step] for start in starts[kind]]
            cells.append(f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})")
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(table)


if __name__ == "__main__":
    main()
