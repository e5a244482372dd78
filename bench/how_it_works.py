"""How long the How it works tab takes to answer: the slider's redraw, the prediction, the toy.

    python -m bench.how_it_works                # ~1 minute on 2 CPU cores
    python -m bench.how_it_works --calls 50 --out bench/results-how-it-works.md

Each view is called `--calls` times after one warm-up call (model loading, matplotlib's font cache),
first as the tab's handler (the Python function Gradio calls: checks, the torch thread, the figure),
then, for the two endpoints, through gradio_client against the app served on localhost, which adds
the upload of the image at every call, Gradio's queue and the PNG encoding of the outputs. Moving the
slider runs two events at once, /forward_process and the schedule plot: the page has redrawn when the
slower of the two is back. Medians and 90th percentiles; the targets of issue 14 are ~0.2 s for the
slider and ~1 s for the prediction on 2 cores.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def timed(function: Callable[[], object], calls: int) -> list[float]:
    function()  # warm-up: loading, caches
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def row(view: str, image: str, seconds: list[float]) -> str:
    median = statistics.median(seconds)
    ninetieth = statistics.quantiles(seconds, n=10)[-1] if len(seconds) > 1 else seconds[0]
    return f"| {view} | {image} | {len(seconds)} | {median * 1000:.0f} ms | {ninetieth * 1000:.0f} ms |"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per view, after one warm-up call")
    parser.add_argument("--out", help="also write the table to this markdown file")
    arguments = parser.parse_args()

    from gradio_client import Client, handle_file

    import app  # builds the UI, as served
    from tabs import how_it_works

    folder = Path(tempfile.mkdtemp())
    images = {"256×256 shapes scene": EXAMPLES / "scene-1.png", "512×512 photo": folder / "photo-512.png"}
    Image.open(EXAMPLES / "photo-astronaut.png").resize((512, 512), Image.Resampling.BICUBIC).save(
        images["512×512 photo"]
    )
    loaded = {name: Image.open(path) for name, path in images.items()}
    calls = arguments.calls
    lines = [
        f"Median and 90th percentile of {calls} calls after a warm-up: `python -m bench.how_it_works --calls {calls}`",
        "",
        "| view | image | calls | median | 90th percentile |",
        "| --- | --- | --- | --- | --- |",
    ]

    def add(view: str, image: str, function: Callable[[], object]) -> None:
        lines.append(row(view, image, timed(function, calls)))
        print(lines[-1], flush=True)

    for name, image in loaded.items():
        add(
            "slider: x_t (handler)",
            name,
            lambda image=image: how_it_works.forward_process_view(image, 500, "cosine", 0),
        )
    add("slider: schedule plot (handler)", "", lambda: how_it_works.schedules_view(500, "cosine", "shapes-ddpm"))
    for name, image in loaded.items():
        add(
            "image or schedule: the strip of 7 x_t (handler)",
            name,
            lambda image=image: how_it_works.strip_view(image, "cosine", 0, "shapes-ddpm"),
        )
        add(
            "prediction (handler)", name, lambda image=image: how_it_works.prediction_view(image, 500, 0, "shapes-ddpm")
        )
    add("toy: t slider (handler)", "", lambda: how_it_works.toy_view("word", 100))
    add(
        "toy: 100 steps of DDPM and DDIM, streamed (handler)",
        "",
        lambda: list(how_it_works.run_toy_reverse("word", 100, 0)),
    )

    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for name, path in images.items():
            add(
                "/forward_process (gradio_client)",
                name,
                lambda path=path: client.predict(handle_file(str(path)), 500, "cosine", 0, api_name="/forward_process"),
            )
            add(
                "/predict_noise (gradio_client)",
                name,
                lambda path=path: client.predict(
                    handle_file(str(path)), 500, 0, "shapes-ddpm", api_name="/predict_noise"
                ),
            )
    finally:
        app.demo.close()
    if arguments.out:
        Path(arguments.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
