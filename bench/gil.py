"""How much a busy Python thread slows the torch thread: CPython's GIL, measured on the embedded pixel UNet.

    python -m bench.gil   # about 20 seconds

torch lets go of the GIL inside each op and takes it back after; while another thread runs Python, taking it
back waits until that thread lets go, up to the switch interval (5 ms by default). One forward pass is hundreds
of ops. Times the forward pass of `shapes-ddpm`'s UNet (batch 4, as the Unconditional tab's default) alone, then
beside a thread that runs pure Python, at three switch intervals.
"""

from __future__ import annotations

import sys
import threading
import time

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


if __name__ == "__main__":
    main()
