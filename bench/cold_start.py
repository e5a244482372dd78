"""Cold start: from `python app.py` to a served page, and to the first default result of the tabs whose model loads.

    python -m bench.cold_start --starts 3 --out bench/results-cold-start.md    # ~2 minutes on 2 CPU cores

Each start is a fresh `python app.py` on a free localhost port, with the UNets' OpenVINO graphs (the default) and
without them (`DIFFUSION_PLAYGROUND_ACCELERATE=0`), alternately. Seconds from the process's start until: the page is
served (HTTP 200 for /); then, through gradio_client and one after the other, the result of Text to image's default
run and of Unconditional's (a tab's first run loads its model and, with graphs, compiles them: pipelines/engine/
accelerated.py). Medians of the starts, the lowest and highest in brackets.
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


def one_start(accelerate: bool) -> dict[str, float]:
    """A fresh server: the seconds from its start to its page, then to each default's result."""
    from gradio_client import Client

    from pipelines import text_to_image, unconditional

    port = free_port()
    environment = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "DIFFUSION_PLAYGROUND_ACCELERATE": "1" if accelerate else "0",
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "app.py"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        times = {"page": page_served(url, started)}
        client = Client(url, verbose=False, download_files=False)
        text = (text_to_image.DEFAULT_MODEL, PROMPT, "", text_to_image.DEFAULT_GUIDANCE_SCALE)
        text += (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS, 0, False, 4)
        client.submit(*text, api_name="/text_to_image").result(timeout=DEADLINE)
        times["text to image"] = time.perf_counter() - started
        pixel = (unconditional.DEFAULT_MODEL, unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS, 0)
        client.submit(*pixel, False, 4, api_name="/unconditional").result(timeout=DEADLINE)
        times["unconditional"] = time.perf_counter() - started
        return times
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="fresh starts of each kind")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    starts: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for index in range(args.starts):
        for accelerate in (True, False):
            starts[accelerate].append(one_start(accelerate))
            print(f"start {index + 1} of {args.starts}, graphs {'on' if accelerate else 'off'}", file=sys.stderr)
    steps = ("page", "text to image", "unconditional")
    lines = [
        f"`python -m bench.cold_start --starts {args.starts}`: seconds from `python app.py` (a fresh process) until",
        "the page is served, then until each tab's default result (its first run loads the model), one after the",
        "other. Medians of the starts (lowest-highest).",
        "",
        "| UNets | page served | Text to image default's result | then Unconditional default's result |",
        "| --- | --- | --- | --- |",
    ]
    for accelerate in (True, False):
        cells = []
        for step in steps:
            values = [start[step] for start in starts[accelerate]]
            cells.append(f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})")
        lines.append(f"| {'OpenVINO graphs' if accelerate else 'torch'} | {' | '.join(cells)} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(table)


if __name__ == "__main__":
    main()
