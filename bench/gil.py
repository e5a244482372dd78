"""How much a busy Python thread slows the torch thread: CPython's GIL, measured on the embedded pixel UNet, and on
the Train tab's class step run eagerly and as TorchScript.

    python -m bench.gil   # about 40 seconds

torch lets go of the GIL inside each op and takes it back after; while another thread runs Python, taking it
back waits until that thread lets go, up to the switch interval (5 ms by default). One forward pass is hundreds
of ops. Times the forward pass of `shapes-ddpm`'s UNet (batch 4, as the Unconditional tab's default) alone, then
beside a thread that runs pure Python, at three switch intervals. Then one step of a class of 30 students
(`pipelines/toy_class.train_step`, default settings) as plain Python calling torch, and the same function compiled by
TorchScript, which runs all its operations with the GIL let go once: alone and beside the busy thread.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import torch
from diffusers import UNet2DModel

MODEL = "assets/models/shapes-ddpm"
FORWARDS = 10


def milliseconds_per_forward(unet: UNet2DModel, sample: torch.Tensor, timesteps: torch.Tensor) -> float:
    with torch.no_grad():
        unet(sample, timesteps)
        started = time.perf_counter()
        for _ in range(FORWARDS):
            unet(sample, timesteps)
    return (time.perf_counter() - started) / FORWARDS * 1000


def milliseconds(call: Callable[[], object], repeats: int) -> float:
    call()
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats * 1000


def alone_and_beside(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Milliseconds a call, alone and beside a thread running pure Python."""
    alone = milliseconds(call, repeats)
    stop = threading.Event()
    neighbour = threading.Thread(target=busy, args=(stop,))
    neighbour.start()
    try:
        return alone, milliseconds(call, repeats)
    finally:
        stop.set()
        neighbour.join()


def class_step(step: Callable, students: int = 30) -> Callable[[], object]:
    """A call of `step` (toy_class.train_step, eager or scripted) on a class of `students` default trainings."""
    from pipelines import toy2d, toy_points, toy_training

    settings = [toy_training.TrainingSettings(seed=seed) for seed in range(students)]
    group = toy_training._class_of(
        [toy_training._enrol(toy_points.preset_points("ring"), each) for each in settings], training=False
    )
    steps, rates = torch.zeros(students, dtype=torch.long), torch.full((students,), 1e-3)
    arguments = (
        group.weights, group.biases, group.flat["parameters"], group.flat["exp_avg"], group.flat["exp_avg_sq"],
        group.data, group.counts, group.alphas_cumprod, group.keys, steps, rates, toy2d.frequencies(),
        toy_training.BATCH_SIZE, *toy_training.BETAS, toy_training.EPSILON,
    )  # fmt: skip

    def call() -> object:
        with torch.no_grad(), torch.jit.optimized_execution(False):
            return step(*arguments)

    return call


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(number * number for number in range(1000))  # Python work, as a web server's threads do


def main() -> None:
    unet = UNet2DModel.from_pretrained(MODEL, subfolder="unet").eval()
    sample, timesteps = torch.randn(4, 3, 32, 32), torch.full((4,), 500)
    print("| switch interval | forward pass alone | beside a busy Python thread | slower |\n| --- | --- | --- | --- |")
    for interval in (0.005, 0.0005, 0.0001):
        sys.setswitchinterval(interval)
        alone = milliseconds_per_forward(unet, sample, timesteps)
        stop = threading.Event()
        neighbour = threading.Thread(target=busy, args=(stop,))
        neighbour.start()
        beside = milliseconds_per_forward(unet, sample, timesteps)
        stop.set()
        neighbour.join()
        print(f"| {interval * 1000:g} ms | {alone:.1f} ms | {beside:.1f} ms | {beside / alone:.0f}x |")
    sys.setswitchinterval(0.005)
    from pipelines import toy_class

    torch.set_num_threads(1)  # as the class's turns run (pipelines/toy_training.py)
    print("\n| a class step of 30 students (switch interval 5 ms) | alone | beside a busy Python thread | slower |")
    print("| --- | --- | --- | --- |")
    for name, step in (("eager", toy_class.train_step), ("TorchScript", toy_class.scripted().train_step)):
        alone, beside = alone_and_beside(class_step(step), repeats=5)
        print(f"| {name} | {alone:.1f} ms | {beside:.1f} ms | {beside / alone:.0f}x |")


if __name__ == "__main__":
    main()
