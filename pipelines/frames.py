"""What one denoising step shows, and which steps reach the browser.

Every task's `generate_steps` yields a `Frame` per step; the app keeps them all (for
the replay slider) and sends only those that `Throttle` lets through, so streaming
never slows the sampler down.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Frame:
    """The state of the reverse process after one denoising step, as small uint8 images."""

    step: int  # denoising steps done so far, 1..total_steps
    total_steps: int  # steps of this run (second-order schedulers count each model call)
    timestep: int  # diffusion timestep t of the training schedule, T-1 (noise) .. 0 (clean)
    noisy_sample: np.ndarray  # x_t, what the model saw at this step: (batch, height, width, 3)
    predicted_original: np.ndarray  # x̂0, the model's estimate of the clean image; the result after the last step
    elapsed: float  # seconds since the run started

    @property
    def is_last(self) -> bool:
        return self.step == self.total_steps


def to_uint8_images(images: torch.Tensor, max_size: int | None = None) -> np.ndarray:
    """(batch, 1 or 3, height, width) in [-1, 1] to (batch, height, width, 3) uint8, shrunk to `max_size` if larger."""
    images = images.detach().float()
    if max_size is not None and max(images.shape[-2:]) > max_size:
        images = torch.nn.functional.interpolate(images, scale_factor=max_size / max(images.shape[-2:]), mode="area")
    images = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).expand(-1, 3, -1, -1)  # grey -> RGB
    return images.permute(0, 2, 3, 1).cpu().numpy()


GAP_GREY = 96  # the lines between grid cells: visible against the black backgrounds of the shapes world


def image_grid(images: np.ndarray, scale: int = 1, gap: int = 1) -> np.ndarray:
    """Tile a batch of uint8 images into one near-square grid, optionally enlarged with nearest neighbour."""
    count, height, width, channels = images.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), GAP_GREY, dtype=np.uint8)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = image
    return grid.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else grid


class Throttle:
    """Lets a frame through at most every `interval` seconds, and always the last one.

    The frames in between are dropped rather than queued, so a slow browser never
    makes the sampler wait and what it shows is never stale.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.last_sent = -math.inf

    def ready(self, frame: Frame) -> bool:
        now = time.perf_counter()
        if frame.is_last or now - self.last_sent >= self.interval:
            self.last_sent = now
            return True
        return False
