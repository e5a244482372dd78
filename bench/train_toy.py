"""The Train tab's class: N students training at once against one server, and what a default training reaches.

    flock /tmp/heavy.lock python -m bench.train_toy --students 1 8 30 --out bench/results-train-toy.md
    python -m bench.train_toy --quality   # in-process: each preset and a drawn spiral, default settings
    python -m bench.train_toy --in-process 1 30   # in-process classes: the arithmetic alone, no web server

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
from pipelines import toy2d, toy_points, toy_training
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


def train(url: str, student: Student, connected: threading.Barrier, started: threading.Event) -> None:
    """One student's default training through their own client, timed from their submission."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False, ssl_verify=False)
    connected.wait()
    started.wait()
    submitted = time.perf_counter()
    try:
        job = client.submit(**student.inputs(), api_name="/train_toy")
        for _ in job:
            if student.first_update is None:
                student.first_update = time.perf_counter() - submitted
        # the job's own result: its iterator may end before the last update arrives (gradio_client: it stops once the
        # job is marked finished and it has read every output so far)
        last = job.result()
        if not str(last[2]).startswith("Done"):
            student.error = f"status: {last[2]}"
    except Exception as error:  # counted and reported: the bench goes on
        student.error = f"{type(error).__name__}: {error}"
    student.finished = time.perf_counter() - submitted


def phase(url: str, students: list[Student], concurrent: bool) -> float:
    """Every student's training, all at once or each after the previous; returns the wall time from the
    submissions (the clients' connecting left out)."""
    wall = 0.0
    groups = [students] if concurrent else [[student] for student in students]
    for group in groups:
        # every client connects first (its page and API description loaded), as a class's browsers have, then all
        # submit at once
        connected, go = threading.Barrier(len(group) + 1), threading.Event()
        threads = [threading.Thread(target=train, args=(url, student, connected, go)) for student in group]
        for thread in threads:
            thread.start()
        connected.wait()
        started = time.perf_counter()
        go.set()
        for thread in threads:
            thread.join()
        wall += time.perf_counter() - started
    return wall


def class_of(count: int) -> list[Student]:
    return [Student(seed=index, data=toy2d.DATA_SETS[index % len(toy2d.DATA_SETS)]) for index in range(count)]


def row(server: Server, count: int, solo: list[float], sequential_max: int, notes: list[str]) -> str:
    if count <= sequential_max:
        one_by_one = class_of(count)
        sequential = f"{phase(server.url, one_by_one, concurrent=False):.1f} s"
        solo += [student.finished for student in one_by_one if student.error is None]
        sequential_seconds = float(sequential[:-2])
    else:
        if not solo:  # no smaller class was timed one by one: one training alone first
            alone = class_of(1)
            phase(server.url, alone, concurrent=False)
            solo += [student.finished for student in alone if student.error is None]
        sequential_seconds = count * statistics.mean(solo)
        sequential = f"{sequential_seconds:.1f} s ({count} × solo {statistics.mean(solo):.1f} s)"
    together = class_of(count)
    before, clients_before = server.ask("stats")["cpu"], time.process_time()
    wall = phase(server.url, together, concurrent=True)
    clients = time.process_time() - clients_before
    cpu = {name: seconds - before[name] for name, seconds in server.ask("stats")["cpu"].items()}
    notes.append(
        f"{count} at once, CPU seconds in their {wall:.1f} s: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f"; the clients (this process) {clients:.1f}"
    )
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
    clouds = {name: toy_points.preset_points(name) for name in toy2d.DATA_SETS}
    clouds["drawn spiral"] = toy_points.drawing_points(drawn_spiral())
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


def train_in_process(student: Student, ends: dict[int, tuple[float, float]]) -> None:
    """One student's default training in this process: (seconds to the end, to the first update) into `ends`."""
    started, first = time.perf_counter(), None
    points, settings = toy_points.preset_points(student.data), toy_training.TrainingSettings(seed=student.seed)
    for _ in toy_training.train_steps(points, settings):
        first = first or time.perf_counter() - started
    ends[student.seed] = (time.perf_counter() - started, first)


def in_process(counts: list[int]) -> None:
    """N default trainings at once in this process (one thread each, as the handlers), without the web server: the
    class's own arithmetic, and its share of the time through the server."""
    print("| students | wall (CPU) | first update, last student | class steps |")
    print("| --- | --- | --- | --- |")
    for count in counts:
        ends: dict[int, tuple[float, float]] = {}
        threads = [threading.Thread(target=train_in_process, args=(student, ends)) for student in class_of(count)]
        steps_before = toy_training.statistics["class_steps"]
        started, cpu_started = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        firsts = max(first for _, first in ends.values())
        steps = toy_training.statistics["class_steps"] - steps_before
        print(f"| {count} | {wall:.1f} s ({cpu:.1f} s) | {firsts:.2f} s | {steps} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[1, 8, 30])
    parser.add_argument("--sequential-max", type=int, default=8)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--in-process", type=int, nargs="+", metavar="STUDENTS", help="classes without the server")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quality:
        quality()
        return
    if args.in_process:
        in_process(args.in_process)
        return
    server = Server()
    try:
        phase(server.url, class_of(1), concurrent=True)  # warm-up: the first training pays the imports
        solo: list[float] = []
        rows: list[str] = []
        notes: list[str] = []  # where the server's CPU went in each class
        for count in args.students:
            rows.append(row(server, count, solo, args.sequential_max, notes))
            print(rows[-1], flush=True)
    finally:
        server.close()
    table = "\n".join(HEADER + rows) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as out:
            out.write(f"`python -m bench.train_toy --students {' '.join(map(str, args.students))}`\n\n{table}")


if __name__ == "__main__":
    main()
