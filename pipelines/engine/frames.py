"""What one denoising step shows, and which steps reach the browser.

Every task's `generate_steps` yields a `Frame` per step; the app keeps them all (for
the replay slider) and sends only those that `Throttle` lets through, so streaming
never slows the sampler down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:  # torch loads with the first run, not with the UI (`pipelines/defaults`)
    import torch


@dataclass(frozen=True)
class Step:
    """Where the reverse process is: what every frame carries besides its images."""

    step: int  # denoising steps done so far, 1..total_steps
    total_steps: int  # steps of this run (second-order schedulers count each model call)
    timestep: int  # diffusion timestep t of the training schedule, T-1 (noise) .. 0 (clean)
    elapsed: float  # seconds since the run started

    @property
    def is_last(self) -> bool:
        return self.step == self.total_steps


@dataclass(frozen=True)
class Frame(Step):
    """The state of the reverse process after one denoising step, as small uint8 images."""

    noisy_sample: np.ndarray  # x_t, what the model saw at this step: (batch, height, width, 3)
    predicted_original: np.ndarray  # x̂0, the model's estimate of the clean image; the result after the last step


@dataclass(frozen=True)
class LatentFrame(Step):
    """A step of latent diffusion: its x̂0 is decoded from the latents only when someone looks.

    Decoding x̂0 takes a VAE call; the app sends ~10 frames a second and keeps every frame for
    replay, so each frame keeps its (small) x̂0 latents and decodes them once, on first use. x_t is
    a cheap view of the latents (`latent_channels`), drawn at once by the loop on the torch thread:
    showing a frame then waits for the loop's current step once, for the decode, not twice.
    """

    noisy_sample: np.ndarray  # x_t in latent space, each latent's channels as grey tiles: (batch, 2h+1, 2w+1, 3)
    predicted_latents: torch.Tensor  # x̂0 in latent space
    decode: Callable[[torch.Tensor], np.ndarray]  # latents -> (batch, height, width, 3) uint8 images
    final_images: np.ndarray | None = None  # the pipeline's own output, on the last frame

    @cached_property
    def predicted_original(self) -> np.ndarray:
        return self.final_images if self.final_images is not None else self.decode(self.predicted_latents)

    def __reduce__(self) -> tuple:
        """Pickled (a ZeroGPU worker hands what it yields to the server, which has no decoder and no GPU), a
        latent frame becomes a plain `Frame` with x̂0 decoded: once per frame, at the end of a run."""
        return Frame, (
            self.step,
            self.total_steps,
            self.timestep,
            self.elapsed,
            self.noisy_sample,
            self.predicted_original,
        )


def to_uint8_images(images: torch.Tensor, max_size: int | None = None) -> np.ndarray:
    """(batch, 1 or 3, height, width) in [-1, 1] to (batch, height, width, 3) uint8, shrunk to `max_size` if larger."""
    images = images.detach().float()
    if max_size is not None and max(images.shape[-2:]) > max_size:
        import torch  # loaded: `images` is a tensor

        images = torch.nn.functional.interpolate(images, scale_factor=max_size / max(images.shape[-2:]), mode="area")
    # in numpy, which rounds the same (half to even) on one thread: torch's `round` runs on its OpenMP pool from
    # ~10^4 values, whose threads then spin for a while, taking a core from the OpenVINO graph called next
    values = np.rint((np.clip(images.cpu().numpy(), -1, 1) + 1) * np.float32(127.5)).astype(np.uint8)
    values = values if values.shape[1] == 3 else values.repeat(3, axis=1)  # grey -> RGB
    return values.transpose(0, 2, 3, 1)


GAP_GREY = 96  # the lines between grid cells: visible against the black backgrounds of the shapes world


def image_grid(images: np.ndarray, scale: int = 1, gap: int = 1) -> np.ndarray:
    """Tile a batch of uint8 images (..., count, height, width, channels) into one near-square grid each (the
    leading dimensions kept), optionally enlarged with nearest neighbour."""
    *leading, count, height, width, channels = images.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full(
        (*leading, rows * (height + gap) - gap, columns * (width + gap) - gap, channels), GAP_GREY, dtype=np.uint8
    )
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[..., top : top + height, left : left + width, :] = images[..., index, :, :, :]
    if scale > 1:
        grid = grid.repeat(scale, axis=-3).repeat(scale, axis=-2)
    return grid


LATENT_RANGE = 3.0  # latents of unit variance shown from -3 (black) to +3 (white): fixed, so frames compare


def latent_channels(latents: torch.Tensor) -> np.ndarray:
    """Each latent of (batch, 4, height, width) as a 2x2 grid of its channels in grey: (batch, 2h+1, 2w+1, 3)."""
    channels = (latents.detach().float() / LATENT_RANGE).clamp(-1, 1)
    grey = to_uint8_images(channels.flatten(0, 1)[:, None])  # (batch * channels, height, width, 3)
    return image_grid(grey.reshape(latents.shape[0], latents.shape[1], *grey.shape[1:]))  # all images at once


class Throttle:
    """Which frames reach the browser, and which of them bring a new x̂0.

    A frame goes at most every `interval` seconds, and always the last one; the frames in between
    are dropped rather than queued, so a slow browser never makes the sampler wait and what it
    shows is never stale. Drawing x̂0 can cost far more than a step (decoding a large latent: 0.15 s
    for a 256-pixel photo, three model steps), so it is timed (`timed()`) and redrawn only while
    all the drawing of the run, the next one included, stays within `max_share` of the run's time
    (`affordable()`): a short run may show x̂0 only at its end, a long one every few seconds. What
    the next drawing costs is what the last one of the same `task` cost, in this run or the one
    before (the first run of a task after start-up draws its first x̂0 at once, not knowing). The
    frames in between update x_t and the status only. The share is 4 %: the rest of what the app
    does per frame (x_t views, grids, status) costs about 1 %, and the whole stays within 5 %.

    `least_interval()`, if given, can lengthen the interval as things stand now: the app makes the runs
    going at once share a rate of updates (each costs the web server a few ms of CPU: the images' PNGs,
    its file cache, the stream; docs/serving.md), so that many runs do not take the CPU from the sampling.
    """

    draw_costs: ClassVar[dict[str, float]] = {}  # task -> seconds its last x̂0 drawing took, kept between runs

    def __init__(
        self,
        task: str = "",
        interval: float = 0.1,
        max_share: float = 0.04,
        least_interval: Callable[[], float] | None = None,
    ) -> None:
        self.task = task
        self.interval = interval
        self.max_share = max_share
        self.least_interval = least_interval
        self.started = time.perf_counter()
        self.last_sent = -math.inf
        self.spent = 0.0  # seconds spent drawing in this run

    def ready(self, frame: Step) -> bool:
        now = time.perf_counter()
        interval = max(self.interval, self.least_interval()) if self.least_interval else self.interval
        if frame.is_last or now - self.last_sent >= interval:
            self.last_sent = now
            return True
        return False

    @property
    def cost(self) -> float:
        """Seconds the next drawing is expected to take."""
        return Throttle.draw_costs.get(self.task, 0.0)

    def affordable(self) -> bool:
        return self.spent + self.cost <= self.max_share * (time.perf_counter() - self.started)

    @contextmanager
    def timed(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        cost = time.perf_counter() - started
        Throttle.draw_costs[self.task] = cost
        self.spent += cost
