"""The Train tab's class: N students training at once against one server, and what a default training reaches.

    flock /tmp/heavy.lock python -m bench.train_toy --students 1 8 30 --out bench/results-train-toy.md
    python -m bench.train_toy --quality   # in-process: each preset and a drawn spiral, default settings

Starts the app in a subprocess on a free localhost port (`bench.load.Server`), then for each N: N default trainings
(1500 steps, width 64, linear schedule; the presets in turn, each student a seed of their own) one after another, and
all N submitted at once, each student a gradio_client session of their own that never downloads the streamed
pictures (`download_files=False`). Reports the wall time of each phase, each student's time to the end of their
training (p50 / p95 / largest) against the solo time, and the p95 time to the first streamed update. One after
another is measured up to `--sequential-max` students and beyond that is N times the mean solo time (said so in
the row): 30 trainings one after another take about ten minutes of a shared machine.

`--quality` trains in this process, without the web server: the default settings on each preset and on a spiral
drawn as a student would (a stroke of 6 pixels on the 256-pixel canvas), and reports the time, the loss and the
samples' sliced Wasserstein distance to the data against the untrained network's.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from bench.load import Server, percentiles
from pipelines import toy2d, toy_training
from pipelines.engine import torch_thread

HEADER = [
    "| students | concurrent | one after another | speedup | time to the end p50 / p95 / largest | "
    "largest ÷ solo | first update p50 / p95 | errors |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
]


@dataclass
class Student:
    seed: int
    data: str
    first_update: float | None = None
    finished: float | None = None
    error: str | None = None

    def inputs(self) -> dict:
        settings = toy_training.TrainingSettings()
        return {
            "data": self.data,
            "drawing": None,
            "points": "",
            "steps": settings.steps,
            "schedule": settings.schedule,
            "width": settings.width,
            "timestep": settings.timestep,
            "seed": self.seed,
        }


def train(url: str, student: Student, started: threading.Event) -> None:
    """One student's default training through their own client, timed from their submission."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False, ssl_verify=False)
    started.wait()
    submitted = time.perf_counter()
    try:
        job = client.submit(**student.inputs(), api_name="/train_toy")
        for update in job:
            if student.first_update is None:
                student.first_update = time.perf_counter() - submitted
            last = update
        if not str(last[2]).startswith("Done"):
            student.error = f"status: {last[2]}"
    except Exception as error:  # counted and reported: the bench goes on
        student.error = f"{type(error).__name__}: {error}"
    student.finished = time.perf_counter() - submitted


def phase(url: str, students: list[Student], concurrent: bool) -> float:
    """Every student's training, all at once or each after the previous; returns the wall time."""
    started = time.perf_counter()
    groups = [students] if concurrent else [[student] for student in students]
    for group in groups:
        go = threading.Event()
        threads = [threading.Thread(target=train, args=(url, student, go)) for student in group]
        for thread in threads:
            thread.start()
        time.sleep(0.5 if concurrent else 0)  # the clients connect first, as a class's browsers have
        go.set()
        for thread in threads:
            thread.join()
    return time.perf_counter() - started


def class_of(count: int) -> list[Student]:
    return [Student(seed=index, data=toy2d.DATA_SETS[index % len(toy2d.DATA_SETS)]) for index in range(count)]


def row(url: str, count: int, solo: list[float], sequential_max: int) -> str:
    if count <= sequential_max:
        one_by_one = class_of(count)
        sequential = f"{phase(url, one_by_one, concurrent=False):.1f} s"
        solo += [student.finished for student in one_by_one if student.error is None]
        sequential_seconds = float(sequential[:-2])
    else:
        sequential_seconds = count * statistics.mean(solo)
        sequential = f"{sequential_seconds:.1f} s ({count} × solo {statistics.mean(solo):.1f} s)"
    together = class_of(count)
    wall = phase(url, together, concurrent=True)
    ends = [student.finished for student in together if student.error is None]
    firsts = [student.first_update for student in together if student.first_update is not None]
    errors = [student.error for student in together if student.error]
    ends_text = f"{percentiles(ends)[:-2]} / {max(ends):.2f} s" if ends else "n/a"
    ratio = f"{max(ends) / statistics.mean(solo):.2f}" if ends else "n/a"
    return (
        f"| {count} | {wall:.1f} s | {sequential} | {sequential_seconds / wall:.2f}× | {ends_text} | {ratio} | "
        f"{percentiles(firsts)} | {len(errors)}{': ' + errors[0][:80] if errors else ''} |"
    )


def drawn_spiral(size: int = 256, stroke: int = 6) -> np.ndarray:
    """A spiral of two turns as a student would draw it on the canvas: a (size, size) mask."""
    picture = Image.new("L", (size, size))
    angles = np.linspace(0.3, 4 * np.pi, 400)
    radii = size * 0.42 * angles / angles.max()
    points = list(zip((size / 2 + radii * np.cos(angles)).tolist(), (size / 2 - radii * np.sin(angles)).tolist()))
    ImageDraw.Draw(picture).line(points, fill=255, width=stroke)
    return np.asarray(picture) > 0


def quality() -> None:
    """The default training on each preset and a drawn spiral, in this process."""
    print("| data | seconds (CPU) | loss: first 50 → last 100 steps | distance DDPM: untrained → trained | DDIM |")
    print("| --- | --- | --- | --- | --- |")
    clouds = {name: toy_training.preset_points(name) for name in toy2d.DATA_SETS}
    clouds["drawn spiral"] = toy_training.drawing_points(drawn_spiral())
    for name, points in clouds.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        *_, last = toy_training.train_steps(points, toy_training.TrainingSettings())
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        losses, trained, untrained = last.losses, last.snapshot, last.untrained
        print(
            f"| {name} | {seconds:.1f} ({cpu_seconds:.1f}) | {losses[:50].mean():.3f} → {losses[-100:].mean():.3f} | "
            f"{untrained.ddpm_distance:.3f} → {trained.ddpm_distance:.3f} | "
            f"{untrained.ddim_distance:.3f} → {trained.ddim_distance:.3f} |"
        )
    print(f"\ntorch threads: {torch_thread.run(lambda: __import__('torch').get_num_threads())} (the class's steps: 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[1, 8, 30])
    parser.add_argument("--sequential-max", type=int, default=8)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quality:
        quality()
        return
    server = Server()
    try:
        phase(server.url, class_of(1), concurrent=True)  # warm-up: the first training pays the imports
        solo: list[float] = []
        rows = []
        for count in args.students:
            rows.append(row(server.url, count, solo, args.sequential_max))
            print(rows[-1], flush=True)
    finally:
        server.close()
    table = "\n".join(HEADER + rows) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(f"`python -m bench.train_toy --students {' '.join(map(str, args.students))}`\n\n{table}")


if __name__ == "__main__":
    main()
