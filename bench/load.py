"""A class at once: N simulated students through gradio_client against one server, bounded and loopback only.

    flock /tmp/heavy.lock python -m bench.load --students 1 8 30 --out bench/results-load.md

Starts the app on a free localhost port in a subprocess (or uses `--url`), then for each N: the same N requests
served one after another (each alone: its solo result), then all N submitted at once. Half the students use the
Unconditional tab, half Text to image, each on the tab's defaults with a seed of its own; from 8 students on, one
Inpainting and one Super-resolution call join (errors only) and one more student cancels its run after its first
frame (leaving mid-run). Reports errors, wall times and their ratio (throughput against one after another), p50 /
p95 time to the first streamed frame and to the result, the largest batch formed (`pipelines.engine.batching`), how far
each result is from its solo run (mean and largest absolute difference, in 1/255) and the server's peak RSS.
Clients never download the streamed images (`download_files=False`); only the results, after each phase.
Every phase has a deadline (`--timeout`): runs not done by then are cancelled and counted as errors.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines import inpainting, super_resolution, text_to_image, unconditional
from pipelines.defaults.super_resolution import DEFAULT_SAMPLES

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
TAB_BATCH_SIZE = 4  # the Unconditional and Text to image tabs' default (app.py)
PROMPTS = ["a large red circle on the left", "a small blue square", "a yellow triangle on the top"]
POLL_SECONDS = 0.01
HEADER = [
    "| students | requests | errors | concurrent | one after another | speedup | first frame p50 / p95 "
    "| result p50 / p95 | largest batch | vs solo: mean / max (1/255) | server peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


@dataclass
class Request:
    """One student's call: the endpoint, its inputs, and what happened to it in the current phase."""

    api_name: str
    inputs: tuple
    compared: bool = True  # its result is compared with its solo run (Unconditional, Text to image)
    cancel_after_first_frame: bool = False
    submitted: float = 0.0
    first_frame: float | None = None
    finished: float | None = None
    error: str | None = None
    result: object = None
    images: dict[str, np.ndarray] = field(default_factory=dict)  # phase -> result image


def student_requests(students: int, folder: Path) -> list[Request]:
    """Half Unconditional, half Text to image, each on its tab's defaults with its own seed; from 8 on, the
    other two tabs once each and a student who leaves after the first frame."""
    from gradio_client import handle_file

    requests = []
    for index in range(students):
        if index % 2 == 0:
            inputs = (unconditional.DEFAULT_MODEL, unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS)
            requests.append(Request("/unconditional", (*inputs, index, False, TAB_BATCH_SIZE)))
        else:
            prompt = PROMPTS[index // 2 % len(PROMPTS)]
            inputs = (text_to_image.DEFAULT_MODEL, prompt, "", text_to_image.DEFAULT_GUIDANCE_SCALE)
            settings = (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS, index, False, TAB_BATCH_SIZE)
            requests.append(Request("/text_to_image", (*inputs, *settings)))
    if students >= 8:
        scene = Image.open(EXAMPLES / "scene-1.png").convert("RGB")
        layer = Image.new("RGBA", scene.size, (0, 0, 0, 0))
        layer.paste((0, 0, 0, 255), (0, 0, scene.width // 2, scene.height))
        layer.save(folder / "layer.png")
        editor = {
            "background": handle_file(str(EXAMPLES / "scene-1.png")),
            "layers": [handle_file(str(folder / "layer.png"))],
        }
        inpaint = (inpainting.DEFAULT_MODEL, {**editor, "composite": None}, "a green triangle", "")
        inpaint += (inpainting.DEFAULT_STRENGTH, True, text_to_image.DEFAULT_GUIDANCE_SCALE)
        inpaint += (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS, 0, False)
        photo = handle_file(str(EXAMPLES / "photo-chelsea.png"))
        upscale = (super_resolution.DEFAULT_MODEL, photo, super_resolution.DEFAULT_SCHEDULER)
        upscale += (super_resolution.DEFAULT_STEPS, super_resolution.DEFAULT_ETA, 0, False, "", 5.0, 20, True)
        upscale += (DEFAULT_SAMPLES,)  # the tab's default (8 since session 10; one before)
        requests += [
            Request("/inpaint", inpaint, compared=False),
            Request("/super_resolution", upscale, compared=False),
        ]
    return requests


def leaver(students: int) -> list[Request]:
    if students < 8:
        return []
    inputs = (unconditional.DEFAULT_MODEL, unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS)
    return [
        Request("/unconditional", (*inputs, 999, False, TAB_BATCH_SIZE), compared=False, cancel_after_first_frame=True)
    ]


def run_phase(
    url: str, requests: list[Request], concurrent: bool, timeout: float, at_start: Callable[[], object] = lambda: None
) -> float:
    """Submit the requests (all at once, or each after the previous one ended); returns the wall time. `at_start()`
    is called once the clients are connected, just before the first request."""
    from gradio_client import Client

    # A session per student. Over plain HTTP there is no certificate to check: without ssl_verify, gradio_client's
    # httpx clients (two new ones per submission) skip loading the CA bundle, 20 ms of the clients' CPU each, which a
    # class of 30 submitting at once paid on the server's 2 cores (students' browsers run on their own machines).
    clients = [
        Client(url, verbose=False, download_files=False, ssl_verify=not url.startswith("http://")) for _ in requests
    ]
    for request in requests:
        request.first_frame = request.finished = request.result = None  # errors add up over the phases
    at_start()
    started = time.perf_counter()
    deadline = started + timeout
    batches = [list(zip(clients, requests))] if concurrent else [[pair] for pair in zip(clients, requests)]
    for batch in batches:
        jobs = []
        for client, request in batch:
            request.submitted = time.perf_counter()
            jobs.append((client.submit(*request.inputs, api_name=request.api_name), request))
        while jobs:
            now = time.perf_counter()
            for job, request in list(jobs):
                if request.first_frame is None and job.outputs():
                    request.first_frame = now - request.submitted
                    if request.cancel_after_first_frame:
                        job.cancel()
                        jobs.remove((job, request))
                        continue
                if job.done():
                    request.finished = now - request.submitted
                    try:
                        request.result = job.result()
                        if not str(request.result[3]).startswith("Done"):
                            request.error = f"status: {request.result[3]}"
                    except Exception as error:  # counted and reported, never raised: the run goes on
                        request.error = f"{type(error).__name__}: {error}"
                    jobs.remove((job, request))
                elif now > deadline:
                    job.cancel()
                    request.error = f"not done within {timeout:.0f} s"
                    jobs.remove((job, request))
            time.sleep(POLL_SECONDS)
    return time.perf_counter() - started


def result_image(url: str, result: object) -> np.ndarray:
    """The result image of a finished run, fetched once the phase is over."""
    import httpx

    file = result[2]
    if not isinstance(file, dict) or not (file.get("url") or file.get("path")):
        raise ValueError(f"the result holds no image: {str(file)[:200]}")
    address = file.get("url") or f"{url.rstrip('/')}/gradio_api/file={file['path']}"
    return np.asarray(Image.open(io.BytesIO(httpx.get(address, timeout=60).content)).convert("RGB"))


def fetch_results(url: str, requests: list[Request], phase: str) -> None:
    """Each compared request's result image of this phase; a missing one is the request's error."""
    for request in requests:
        if request.compared and request.result is not None:
            try:
                request.images[phase] = result_image(url, request.result)
            except ValueError as error:
                request.error = f"{phase}: {error}"


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    quantiles = statistics.quantiles(values, n=20, method="inclusive")
    return f"{statistics.median(values):.2f} / {quantiles[18]:.2f} s"


class Server:
    """The app in a subprocess on a free localhost port, answering `stats` and `reset` on its stdin."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--serve", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve(port: int) -> None:
    """The server side: launch the app, print its URL, answer commands on stdin until it closes."""
    import app
    from pipelines.engine import batching
    from ui import runs

    timings: list[dict[str, float]] = []  # per run since the last reset: when its handler started, first update
    phase_started = time.perf_counter()
    controlled = runs.controlled

    def timed_run(*arguments: object) -> Iterator:
        """The handlers' run (`runs.controlled`), with server-side times: where a first frame's wait goes."""
        timing = {"started": time.perf_counter() - phase_started, "updates": 0}
        timings.append(timing)
        for update in controlled(*arguments):
            timing.setdefault("first_update", time.perf_counter() - phase_started - timing["started"])
            timing["updates"] += 1
            yield update

    runs.controlled = timed_run
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    joined: list[float] = []  # when each request reached Gradio's queue (a client's POST to /queue/join)
    push = app.demo._queue.push

    async def timed_push(*arguments: object, **options: object) -> object:
        joined.append(time.perf_counter() - phase_started)
        return await push(*arguments, **options)

    app.demo._queue.push = timed_push
    print(f"http://127.0.0.1:{port}/", flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            batching.statistics.update(dict.fromkeys(batching.statistics, 0))
            timings.clear()
            joined.clear()
            phase_started = time.perf_counter()
        status = Path("/proc/self/status").read_text()
        peak_kb = int(next(row.split()[1] for row in status.splitlines() if row.startswith("VmHWM")))
        statistics = {**batching.statistics, "peak_rss_mb": peak_kb / 1024, "batching": batching.ENABLED}
        print(json.dumps({**statistics, "cpu": thread_cpu_seconds(), "runs": timings, "joined": joined}), flush=True)
    app.demo.close()


def cpu_seconds(process: str) -> float:
    """CPU time (user + system) of /proc/<process>: a process, or one of its threads (self/task/<id>)."""
    fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds() -> dict[str, float]:
    """CPU time of this process so far, by what its threads do: the torch thread (pipelines/engine/torch_thread.py names
    it), the handlers (Gradio runs each step of a generator on an AnyIO worker thread), the web server's event loop
    (uvicorn's thread), and the rest: torch's OpenMP workers, which Python does not see, and threads that ended."""
    groups = {"server": cpu_seconds("self"), "torch thread": 0.0, "handlers": 0.0, "event loop": 0.0}
    for thread in threading.enumerate():
        if thread.native_id is None:
            continue
        group = {"torch": "torch thread", "AnyIO worker thread": "handlers"}.get(thread.name, "event loop")
        if group == "event loop" and not thread.name.endswith("(run)"):
            continue  # the main thread (waiting on stdin), tqdm's monitor: nothing
        groups[group] += cpu_seconds(f"self/task/{thread.native_id}")
    groups["rest"] = groups["server"] - groups["torch thread"] - groups["handlers"] - groups["event loop"]
    return groups


def server_times(runs: list[dict[str, float]], joined: list[float]) -> str:
    """Where the first frame's wait went, on the server: the requests reaching Gradio's queue (the clients' HTTP),
    their handlers starting (the queue, preprocessing), and from there to the first update (the torch thread: text
    encoder, first step, its turn in a batch); updates sent. Times from the phase's start."""
    started = percentiles([run["started"] for run in runs])
    first = percentiles([run["first_update"] for run in runs if "first_update" in run])
    updates = sum(run["updates"] for run in runs)
    return (
        f"server: requests joined the queue {percentiles(joined)} after the phase began, handlers started {started}; "
        f"first update {first} after that; {updates} updates"
    )


def warm_up(url: str, folder: Path) -> None:
    """Load every model and run each tab once, so that no phase pays for a first call."""
    requests = student_requests(8, folder)
    run_phase(url, [requests[0], requests[1], requests[-2], requests[-1]], concurrent=False, timeout=600)


def table_row(students: int, requests: list[Request], walls: dict[str, float], stats: dict, url: str) -> str:
    errors = [request for request in requests if request.error]
    for request in errors:
        print(f"error: {request.api_name}: {request.error}", flush=True)
    differences = [
        np.abs(request.images["concurrent"].astype(float) - request.images["sequential"]).flatten()
        for request in requests
        if request.compared and set(request.images) == {"concurrent", "sequential"}
    ]
    means = [float(difference.mean()) for difference in differences]
    vs_solo = f"{max(means):.3f} / {max(float(d.max()) for d in differences):.0f}" if differences else "n/a"
    first = [request.first_frame for request in requests if request.first_frame is not None and request.compared]
    done = [request.finished for request in requests if request.finished is not None and request.compared]
    speedup = walls["sequential"] / walls["concurrent"]
    return (
        f"| {students} | {len(requests)} | {len(errors)} | {walls['concurrent']:.1f} s | {walls['sequential']:.1f} s "
        f"| {speedup:.2f}x | {percentiles(first)} | {percentiles(done)} | {stats['largest_batch']} rows "
        f"| {vs_solo} | {stats['peak_rss_mb']:.0f} MB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[1, 8, 30])
    parser.add_argument("--url", help="an app already running (then no server statistics)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per phase before runs are cancelled")
    parser.add_argument("--out", help="append the markdown table to this file")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server subprocess: its port
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if any(not 1 <= students <= 60 for students in args.students):
        parser.error("--students must be between 1 and 60")
    server = None if args.url else Server()
    url = args.url or server.url
    rows = []
    before: dict[str, float] = {}  # CPU times when the concurrent phase began

    def reset() -> None:  # the server's statistics from here on
        before.update(server.ask("reset") if server else {}, clients=cpu_seconds("self"))

    try:
        with tempfile.TemporaryDirectory() as folder:
            warm_up(url, Path(folder))
            for students in args.students:
                requests = student_requests(students, Path(folder))
                walls = {"sequential": run_phase(url, requests, concurrent=False, timeout=args.timeout)}
                fetch_results(url, requests, "sequential")
                everyone = requests + leaver(students)
                walls["concurrent"] = run_phase(url, everyone, concurrent=True, timeout=args.timeout, at_start=reset)
                fetch_results(url, requests, "concurrent")
                stats = server.ask("stats") if server else {"largest_batch": "n/a", "peak_rss_mb": float("nan")}
                rows.append(table_row(students, everyone, walls, stats, url))
                print(rows[-1], flush=True)
                if server:
                    print(server_times(stats["runs"], stats["joined"]), flush=True)
                    cpu = {name: seconds - before["cpu"].get(name, 0.0) for name, seconds in stats["cpu"].items()}
                    clients = cpu_seconds("self") - before["clients"]
                    shares = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items() if name != "server")
                    print(
                        f"CPU in the concurrent phase: server {cpu['server']:.1f} s ({shares}); "
                        f"the clients (this process) {clients:.1f} s",
                        flush=True,
                    )
    finally:
        if server:
            server.close()
    mode = "on" if os.environ.get("DIFFUSION_PLAYGROUND_BATCHING", "1") != "0" else "off"
    table = "\n".join(
        [
            f"Batching {mode}; `python -m bench.load --students {' '.join(map(str, args.students))}`; "
            f"{os.cpu_count()} CPU cores; times from submitting to the first streamed frame and to the result.",
            "",
            *HEADER,
            *rows,
        ]
    )
    print(table)
    if args.out:
        with open(args.out, "a") as out:
            out.write(table + "\n\n")


if __name__ == "__main__":
    main()
