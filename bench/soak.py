"""A soak: many simulated visitors through gradio_client against one server, some of them hostile; the server's RSS
over time, bounded and loopback only.

    python -m bench.soak --visitors 1000 --at-once 16 --replay-mb 64 --out bench/results-soak.md   # ~10 min, 2 cores

Starts the app on a free localhost port in a subprocess with the replay budget `--replay-mb`
(`DIFFUSION_PLAYGROUND_REPLAY_MEMORY_MB`, ui/replays.py), then sends `--visitors` visitors, `--at-once` at a time,
each a new session with one call: mostly short Unconditional and Text to image runs (each keeps its frames for
replay), one in 100 a 1000-step DDPM run (~6 MB of frames), one in 10 hostile: a 121-megapixel PNG to a tab that
takes images or a PNG whose settings text is a megabyte long. Clients never download images. Reports the server's
RSS when warm, at its peak and at the end (sampled every 0.2 s), against warm + budget + `MARGIN_MB`; errors of the
normal visitors; p50 / p95 time to their first streamed frame; and how the hostile calls were answered.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, PngImagePlugin

MARGIN_MB = 300  # above warm + budget: Python's and torch's allocators keep freed memory, uploads in flight
BOMB_SIDE = 11_000


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(row.split()[1] for row in status.splitlines() if row.startswith("VmRSS"))) / 1024


def hostile_files(folder: Path) -> tuple[str, str]:
    bomb, text = folder / "bomb.png", folder / "long-text.png"
    Image.new("L", (BOMB_SIDE, BOMB_SIDE)).save(bomb, optimize=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a" * 1_000_000, zip=True)
    Image.new("RGB", (32, 32)).save(text, pnginfo=info)
    return str(bomb), str(text)


def visitor_call(number: int, bomb: str, long_text: str) -> tuple[str, str, tuple]:
    """(kind, endpoint, inputs) of visitor `number`: a fixed, mixed sequence."""
    from gradio_client import handle_file

    if number % 10 == 9:
        if number % 20 == 9:
            return "hostile", "/png_info", (handle_file(long_text),)
        endpoint = ("/png_info", "/super_resolution", "/forward_process")[number // 20 % 3]
        upload = handle_file(bomb)
        inputs = {
            "/png_info": (upload,),
            "/super_resolution": ("photo-sr-4x", upload, "DDIM", 1, 0.0, 0, False, "", 5.0, 20, True, 1),
            "/forward_process": (upload, 250, "linear", 0, "shapes-ddpm"),
        }[endpoint]
        return "hostile", endpoint, inputs
    if number % 100 == 0:
        return "long", "/unconditional", ("shapes-ddpm", "DDPM", 1000, number, False, 1)
    if number % 2:
        return "normal", "/text_to_image", ("shapes-sd", "a small blue square", "", 5.0, "DDIM", 10, number, False, 2)
    return "normal", "/unconditional", ("shapes-ddpm", "DDIM", 10, number, False, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--at-once", type=int, default=16)
    parser.add_argument("--replay-mb", type=float, default=64)
    parser.add_argument("--timeout", type=float, default=300, help="seconds a call may take before it counts as failed")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from gradio_client import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "DIFFUSION_PLAYGROUND_REPLAY_MEMORY_MB": str(args.replay_mb)}
    launch = f"import app; app.launch(server_name='127.0.0.1', server_port={port}, quiet=True)"
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    with (folder / "server.log").open("w") as log:  # the refusals' tracebacks: Gradio logs every gr.Error
        server = subprocess.Popen([sys.executable, "-c", launch], env=environment, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                Client(url, verbose=False)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        bomb, long_text = hostile_files(folder)
        for number in (2, 1):  # warm: both models loaded, one run of each
            _, endpoint, inputs = visitor_call(number, bomb, long_text)
            Client(url, verbose=False, download_files=False).predict(*inputs, api_name=endpoint)
        warm = resident_mb(server.pid)
        samples: list[tuple[float, float]] = []
        done = threading.Event()
        started = time.perf_counter()

        def sample() -> None:
            while not done.wait(0.2):
                samples.append((time.perf_counter() - started, resident_mb(server.pid)))

        threading.Thread(target=sample, daemon=True).start()
        first_frames: list[float] = []
        errors: list[str] = []
        hostile: dict[str, int] = {}
        next_visitor = 0
        jobs: list[tuple[object, str, float, list]] = []
        while next_visitor < args.visitors or jobs:
            while next_visitor < args.visitors and len(jobs) < args.at_once:
                kind, endpoint, inputs = visitor_call(next_visitor, bomb, long_text)
                client = Client(url, verbose=False, download_files=False, ssl_verify=False)
                jobs.append((client.submit(*inputs, api_name=endpoint), kind, time.perf_counter(), [None]))
                next_visitor += 1
            now = time.perf_counter()
            for entry in list(jobs):
                job, kind, submitted, first = entry
                if first[0] is None and job.outputs():
                    first[0] = now - submitted
                if job.done() or now - submitted > args.timeout:
                    jobs.remove(entry)
                    try:
                        result = job.result(timeout=0)
                        if kind == "hostile":
                            answer = "read within limits" if "only its first" in str(result[1]) else "served"
                            hostile[answer] = hostile.get(answer, 0) + 1
                    except Exception as error:
                        if kind == "hostile":
                            answer = "refused: too large" if "too large" in str(error) else f"error: {error}"[:80]
                            hostile[answer] = hostile.get(answer, 0) + 1
                        else:
                            errors.append(f"{kind}: {type(error).__name__}: {str(error)[:120]}")
                    if kind == "normal" and first[0] is not None:
                        first_frames.append(first[0])
            time.sleep(0.02)
        done.set()
        wall = time.perf_counter() - started
        end = resident_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    peak = max(rss for _, rss in samples) if samples else end
    bound = warm + args.replay_mb + MARGIN_MB
    quantiles = statistics.quantiles(first_frames, n=20, method="inclusive") if len(first_frames) > 1 else [0] * 19
    over_time = ", ".join(f"{seconds:.0f} s: {rss:.0f}" for seconds, rss in samples[:: max(1, len(samples) // 12)])
    lines = [
        f"## {args.visitors} visitors, {args.at_once} at a time, replay budget {args.replay_mb:g} MB",
        "",
        "| visitors | wall | errors (normal) | first frame p50 / p95 (normal) | RSS warm / peak / end | bound |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {args.visitors} | {wall:.0f} s | {len(errors)} | {statistics.median(first_frames):.2f} / "
        f"{quantiles[18]:.2f} s | {warm:.0f} / {peak:.0f} / {end:.0f} MB | {bound:.0f} MB "
        f"({'within' if peak <= bound else 'OVER'}) |",
        "",
        f"Hostile calls: {', '.join(f'{answer}: {count}' for answer, count in sorted(hostile.items()))}.",
        f"RSS over time (MB): {over_time}.",
        *(f"- {error}" for error in errors[:10]),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        with args.out.open("a") as out:
            out.write(report + "\n\n")


if __name__ == "__main__":
    main()
