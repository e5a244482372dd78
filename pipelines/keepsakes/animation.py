"""A run's trajectory to take home: an animation of x_t beside x̂0 at every step, and a contact sheet.

    frames = list(generate_steps("shapes-ddpm", steps=1000))
    trajectory_animation(frames, "trajectory.webp")  # at most 80 frames: the first, the last, evenly between
    contact_sheet(frames, "contact-sheet.png")  # 12 of those steps in a grid

Each picture is one frame's x_t grid beside its x̂0 grid under a label (step, timestep). Frames are the
tasks' `Frame`s or `LatentFrame`s. A latent frame decodes its x̂0 when first looked at, so only the frames
chosen are decoded, and `decode_seconds` caps the time spent on it: decoding can cost far more than a step
(the x̂0 of every step of a 20-step 512x512 super-resolution run would add 44 s to the run's 7.6 s:
bench/results-animation.md, `python -m bench.animation`). Frames whose x̂0 is not decoded then show the
latest one that is, labelled with its step, as the app shows them live. Small images are enlarged by a whole
factor with nearest neighbour (pixels stay sharp and the label fits), large ones shrunk. The animation is an
animated WebP, lossless for small pictures; a GIF only where Pillow has no WebP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from pipelines.engine.frames import GAP_GREY, Frame, LatentFrame, image_grid

MAX_FRAMES = 80  # an animation of a long run shows this many of its steps
SHEET_FRAMES = 12
MIN_SIDE = 160  # pixels: smaller grids are enlarged by a whole factor to at least this
MAX_SIDE = 512  # pixels: larger grids are shrunk to this (the contact sheet: SHEET_MAX_SIDE)
SHEET_MAX_SIDE = 256
GAP = 4  # pixels between x_t and x̂0, and between the contact sheet's cells
BACKGROUND = (16, 16, 16)
LABEL_GREY = (200, 200, 200)
ANIMATION_SECONDS = 6.0  # the whole run plays in about this time...
FRAME_MILLISECONDS = (40, 500)  # ...each frame shown at least and at most this long
LAST_FRAME_MILLISECONDS = 2000  # the result stays a moment before the loop starts again
LOSSLESS_MAX_PIXELS = 200_000  # pictures up to this size are kept exactly; photo-sized ones at WEBP_QUALITY
WEBP_QUALITY = 90
# Every run writes its animation, so its encoding is paid by every run (a class of 30 pays it 30 times, beside the
# batched work): libwebp's least effort (method 0, and lossless quality 0: files 2 % larger) and no extra key frames
# (kmax 0: the encoder otherwise tries each frame as a key frame too) halve it (bench/results-animation.md).
WEBP_SPEED = {"method": 0, "kmax": 0}
LOSSLESS = {"lossless": True, "quality": 0}
SHEET_COMPRESS_LEVEL = 1  # zlib's fastest: the contact sheet's PNG in half the time, 9 % larger

AnyFrame = TypeVar("AnyFrame", Frame, LatentFrame)


def subsample(frames: Sequence[AnyFrame], limit: int) -> list[AnyFrame]:
    """At most `limit` of `frames`, evenly spread, the first and the last always among them."""
    if limit < 2:
        raise ValueError(f"Keep at least 2 frames (the first and the last); got {limit}.")
    if len(frames) <= limit:
        return list(frames)
    positions = np.floor(np.linspace(0, len(frames) - 1, limit) + 0.5).astype(int)
    return [frames[index] for index in dict.fromkeys(positions.tolist())]


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a grid is drawn at: enlarged by a whole factor up to MIN_SIDE, or shrunk to `max_side`."""
    longest = max(width, height)
    if longest < MIN_SIDE:
        scale = math.ceil(MIN_SIDE / longest)
        return width * scale, height * scale
    if longest > max_side:
        return max(1, round(width * max_side / longest)), max(1, round(height * max_side / longest))
    return width, height


def drawn(grid: np.ndarray, size: tuple[int, int]) -> Image.Image:
    picture = Image.fromarray(grid)
    if picture.size == size:
        return picture
    enlarging = size[0] >= picture.width
    return picture.resize(size, Image.Resampling.NEAREST if enlarging else Image.Resampling.BOX)


@dataclass(frozen=True)
class Layout:
    """Where a frame's parts go; the same for every frame of a run, so that the pictures line up."""

    noisy_size: tuple[int, int]  # (width, height) x_t's grid is drawn at
    estimate_size: tuple[int, int]  # the same for x̂0's
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont
    line_height: int

    @classmethod
    def of(cls, last: Frame | LatentFrame, max_side: int) -> Layout:
        """Sized on the run's last frame (an unconditional run previews its steps smaller than the result)."""
        noisy_height, noisy_width = image_grid(last.noisy_sample).shape[:2]
        estimate_height, estimate_width = image_grid(last.predicted_original).shape[:2]
        noisy_size = fitted_size(noisy_width, noisy_height, max_side)
        estimate_size = fitted_size(estimate_width, estimate_height, max_side)
        font_size = max(11, min(24, min(noisy_size[0], estimate_size[0]) // 13))
        font = ImageFont.load_default(size=font_size)
        return cls(noisy_size, estimate_size, font, line_height=font_size + 6)

    @property
    def size(self) -> tuple[int, int]:
        width = self.noisy_size[0] + GAP + self.estimate_size[0]
        return width, 2 * self.line_height + max(self.noisy_size[1], self.estimate_size[1])

    @property
    def estimate_left(self) -> int:
        return self.noisy_size[0] + GAP

    @cached_property
    def labelled(self) -> Image.Image:
        """The background with what every frame's picture has: the second line's labels (text is drawn once a run,
        not once a frame: its rendering was a fifth of the keepsakes' time)."""
        picture = Image.new("RGB", self.size, BACKGROUND)
        draw = ImageDraw.Draw(picture)
        draw.text((3, self.line_height + 1), "x_t", LABEL_GREY, self.font)
        draw.text((self.estimate_left + 3, self.line_height + 1), "predicted x0", LABEL_GREY, self.font)
        return picture


def has_estimate(frame: Frame | LatentFrame) -> bool:
    """Whether a frame's x̂0 costs nothing to show: pixel frames, and latent frames decoded already or last."""
    return isinstance(frame, Frame) or frame.final_images is not None or "predicted_original" in vars(frame)


def estimate_sources(frames: list[AnyFrame], decode_seconds: float) -> list[AnyFrame]:
    """For each frame, the frame whose x̂0 it shows: itself, or the latest earlier one whose x̂0 is decoded.

    The first frame is always given its x̂0 (nothing earlier could stand in); that, or the first decode the
    budget allows, tells what a decode costs; then as many more, evenly spread over the run, as fit in
    `decode_seconds` are decoded.
    """
    missing = [frame for frame in frames if not has_estimate(frame)]
    if missing and (missing[0] is frames[0] or decode_seconds > 0):
        started = time.perf_counter()
        missing[0].predicted_original  # noqa: B018 - decoded on first use, then kept by the frame
        spent = cost = time.perf_counter() - started
        rest = missing[1:]
        affordable = int(min(len(rest), max(0.0, decode_seconds - spent) / max(cost, 1e-6)))
        if affordable < len(rest):  # evenly spread between the first and the end
            rest = [rest[round(position)] for position in np.linspace(0, len(rest) - 1, affordable + 2)[1:-1]]
        for frame in rest:
            if spent + cost > decode_seconds:  # decodes cost more than the first did
                break
            started = time.perf_counter()
            frame.predicted_original  # noqa: B018
            spent += time.perf_counter() - started
    sources, latest = [], frames[0]
    for frame in frames:
        latest = frame if has_estimate(frame) else latest
        sources.append(latest)
    return sources


def frame_picture(frame: Frame | LatentFrame, layout: Layout, source: Frame | LatentFrame | None = None) -> Image.Image:
    """x_t beside x̂0 under two lines: the step and timestep, then which image is which. `source`: the frame
    whose x̂0 is shown (an earlier one when this frame's was not decoded)."""
    source = source or frame
    picture = layout.labelled.copy()
    draw = ImageDraw.Draw(picture)
    draw.text((3, 2), f"step {frame.step} / {frame.total_steps}   t = {frame.timestep}", "white", layout.font)
    top = 2 * layout.line_height
    if source is not frame:  # the label says whose x̂0 this is
        draw.rectangle((layout.estimate_left, layout.line_height, layout.size[0], top - 1), BACKGROUND)
        label = f"predicted x0 of step {source.step}"
        draw.text((layout.estimate_left + 3, layout.line_height + 1), label, LABEL_GREY, layout.font)
    picture.paste(drawn(image_grid(frame.noisy_sample), layout.noisy_size), (0, top))
    picture.paste(drawn(image_grid(source.predicted_original), layout.estimate_size), (layout.estimate_left, top))
    return picture


def frame_milliseconds(count: int) -> list[int]:
    shortest, longest = FRAME_MILLISECONDS
    each = min(longest, max(shortest, round(1000 * ANIMATION_SECONDS / count)))
    return [each] * (count - 1) + [LAST_FRAME_MILLISECONDS]


def trajectory_animation(
    frames: Sequence[Frame | LatentFrame],
    path: str | Path,
    max_frames: int = MAX_FRAMES,
    decode_seconds: float = math.inf,
) -> Path:
    """Write the run as a looping animated WebP (a GIF where Pillow lacks WebP: `path` then ends in .gif) of at
    most `max_frames` frames, decoding latent x̂0 for at most about `decode_seconds`, and return its path."""
    if not frames:
        raise ValueError("There are no frames to animate: run the model first.")
    chosen = subsample(frames, max_frames)
    layout = Layout.of(chosen[-1], MAX_SIDE)
    sources = estimate_sources(chosen, decode_seconds)
    return save_animation([frame_picture(frame, layout, source) for frame, source in zip(chosen, sources)], path)


def save_animation(pictures: Sequence[Image.Image], path: str | Path) -> Path:
    """Write pictures of one size as a looping animated WebP (a GIF where Pillow lacks WebP: `path` then ends in
    .gif), played in about ANIMATION_SECONDS, the last held a moment; return its path."""
    path = Path(path)
    options = {"save_all": True, "append_images": pictures[1:], "duration": frame_milliseconds(len(pictures))}
    if features.check("webp"):
        width, height = pictures[0].size
        quality = LOSSLESS if width * height <= LOSSLESS_MAX_PIXELS else {"quality": WEBP_QUALITY}
        pictures[0].save(path, format="WEBP", loop=0, **WEBP_SPEED, **quality, **options)
    else:  # every Pillow build we know of has WebP; GIF keeps the animation where one does not
        path = path.with_suffix(".gif")
        pictures[0].save(path, format="GIF", loop=0, **options)
    return path


def contact_sheet(
    frames: Sequence[Frame | LatentFrame],
    path: str | Path,
    columns: int = 4,
    count: int = SHEET_FRAMES,
    decode_seconds: float = math.inf,
) -> Path:
    """Write a PNG grid of `count` of the run's steps (the first and the last among them), `columns` wide,
    decoding latent x̂0 for at most about `decode_seconds`."""
    if not frames:
        raise ValueError("There are no frames for a contact sheet: run the model first.")
    chosen = subsample(frames, count)
    sources = estimate_sources(chosen, decode_seconds)
    layout = Layout.of(chosen[-1], SHEET_MAX_SIDE)
    columns = min(columns, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    cell_width, cell_height = layout.size
    sheet = Image.new("RGB", (columns * (cell_width + GAP) - GAP, rows * (cell_height + GAP) - GAP), (GAP_GREY,) * 3)
    for index, (frame, source) in enumerate(zip(chosen, sources)):
        sheet.paste(
            frame_picture(frame, layout, source),
            ((index % columns) * (cell_width + GAP), (index // columns) * (cell_height + GAP)),
        )
    sheet.save(path, format="PNG", compress_level=SHEET_COMPRESS_LEVEL)
    return Path(path)
