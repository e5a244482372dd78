"""The How it works tab's figures: the noise schedules, the 2D toy's score field and its reverse process.

Drawn by matplotlib into (height, width, 3) uint8 arrays, through `Figure` and the Agg canvas rather than
pyplot: pyplot keeps global state, and Gradio draws figures for several users at once on its worker threads.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.engine.sampling import log_signal_to_noise
from pipelines.toy2d import GRID_LIMIT, GRID_POINTS, ToyStep, ToyView

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("tab:blue", "tab:orange", "tab:green", "black")  # the schedules, in the picker's order
LIMIT = 2.2  # the toy's axes: [-2.2, 2.2]², the data and most of the noised cloud
DATA_COLOUR, NOISY_COLOUR, SCORE_COLOUR = "#bbbbbb", "tab:blue", "tab:red"


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches at 100 dpi (matplotlib imported here, 0.5 s, not at start-up)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def to_image(figure: Figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def schedule_figure(curves: dict[str, np.ndarray], timestep: int, selected: str) -> np.ndarray:
    """ᾱ_t and log SNR(t) of every schedule in `curves` (label -> ᾱ), a marker at `timestep`; `selected` in bold."""
    figure = new_figure(7.2, 2.8)
    signal, log_snr = figure.subplots(1, 2)
    for (label, alphas_cumprod), colour in zip(curves.items(), COLOURS):
        style = {"color": colour, "linewidth": 2.5 if label == selected else 1.2}
        style["linestyle"] = "--" if label.startswith("model") else "-"
        timesteps = np.arange(len(alphas_cumprod))
        log_snrs = log_signal_to_noise(alphas_cumprod)
        signal.plot(timesteps, alphas_cumprod, label=label, **style)
        log_snr.plot(timesteps, log_snrs, **style)
        if timestep < len(alphas_cumprod):
            signal.plot(timestep, alphas_cumprod[timestep], "o", color=colour, markersize=5)
            log_snr.plot(timestep, log_snrs[timestep], "o", color=colour, markersize=5)
    for axes, title in ((signal, "ᾱ_t: signal kept"), (log_snr, "log SNR(t) = log(ᾱ_t / (1 − ᾱ_t))")):
        axes.axvline(timestep, color="red", linewidth=1)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("t", fontsize=9)
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
    log_snr.axhline(0, color="grey", linewidth=0.8)  # SNR = 1: as much noise as signal
    signal.legend(fontsize=8, loc="upper right")
    return to_image(figure)


def _toy_axes(axes, title: str) -> None:
    axes.set_xlim(-LIMIT, LIMIT)
    axes.set_ylim(-LIMIT, LIMIT)
    axes.set_aspect("equal")
    axes.set_title(title, fontsize=10)
    axes.tick_params(labelsize=7)


def toy_figure(view: ToyView, data_set: str) -> np.ndarray:
    """The data, the noised cloud at t and the score field as arrows (length ∝ |s|, the longest capped)."""
    figure = new_figure(5.2, 5.2)
    axes = figure.subplots()
    axes.scatter(*view.data.T, s=4, color=DATA_COLOUR, label="data x₀")
    axes.scatter(*view.noisy.T, s=4, color=NOISY_COLOUR, alpha=0.6, label="x_t: the data noised")
    # one grid spacing for the 90th percentile of |s|, longer arrows capped: near the data at small t the
    # score is huge and would dwarf every other arrow
    lengths = np.linalg.norm(view.scores, axis=1)
    reference = max(np.percentile(lengths, 90), 1e-8)
    capped = view.scores * (np.minimum(lengths, reference) / np.maximum(lengths, 1e-8))[:, None]
    spacing = 2 * GRID_LIMIT / (GRID_POINTS - 1)
    axes.quiver(
        *view.grid.T,
        *capped.T,
        angles="xy",
        scale_units="xy",
        scale=reference / spacing,
        color=SCORE_COLOUR,
        width=0.003,
        label="score s(x, t)",
    )
    _toy_axes(axes, f"{data_set}: t = {view.timestep}, ᾱ_t = {view.alpha_prod:.3f}")
    axes.legend(fontsize=8, loc="upper right", markerscale=2)
    return to_image(figure)


def reverse_figure(step: ToyStep, data: np.ndarray) -> np.ndarray:
    """The particles of both samplers after `step`, over the data in grey."""
    figure = new_figure(8.4, 4.4)
    for axes, particles, title in zip(
        figure.subplots(1, 2),
        (step.ddpm, step.ddim),
        ("DDPM: a random step (Ho et al. 2020)", "DDIM, η = 0: no new noise (Song et al. 2020)"),
    ):
        axes.scatter(*data.T, s=4, color=DATA_COLOUR)
        axes.scatter(*particles.T, s=4, color=NOISY_COLOUR, alpha=0.7)
        _toy_axes(axes, title)
    done = " → 0: the samples" if step.is_last else ""
    figure.suptitle(f"step {step.step} / {step.total_steps} · t = {step.timestep}{done}", fontsize=11)
    return to_image(figure)


# The Train tab's pictures, drawn with Pillow rather than matplotlib: a class of 30 streams them at once, and a
# matplotlib figure of the toy took 0.2-1 s on the shared 2 cores, a Pillow one a few milliseconds.
PANEL = 240  # pixels of a square panel
TITLE_HEIGHT = 18
RGB = {"data": (187, 187, 187), "particles": (31, 119, 180), "score": (214, 39, 40), "text": (30, 30, 30)}


@functools.cache
def _font(size: int = 12) -> ImageFont.FreeTypeFont:
    """Pillow's default font at `size`, loaded once (loading it took as long as drawing a loss curve's labels), shared
    by the server's threads: Pillow holds the GIL while FreeType draws (a free-threaded Python would need one per
    thread: Pillow issue 9497)."""
    return ImageFont.load_default(size=size)


def _pixels(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of `points` in a panel over [-LIMIT, LIMIT]², y upwards."""
    scale = (PANEL - 1) / (2 * LIMIT)
    return (LIMIT - points[:, 1]) * scale, (points[:, 0] + LIMIT) * scale


def _dots(panel: np.ndarray, points: np.ndarray, colour: tuple[int, int, int]) -> None:
    """2x2-pixel dots at `points`; those off the panel are left out."""
    rows, columns = (np.round(value).astype(int) for value in _pixels(points))
    inside = (rows >= 0) & (rows < PANEL - 1) & (columns >= 0) & (columns < PANEL - 1)
    rows, columns = rows[inside], columns[inside]
    for row_offset in (0, 1):
        for column_offset in (0, 1):
            panel[rows + row_offset, columns + column_offset] = colour


def _arrows(draw: ImageDraw.ImageDraw, grid: np.ndarray, scores: np.ndarray) -> None:
    """The score field as arrows, length ∝ |s| with one grid spacing for the 90th percentile, longer ones capped
    (as `toy_figure`)."""
    lengths = np.linalg.norm(scores, axis=1)
    reference = max(np.percentile(lengths, 90), 1e-8)
    spacing = 2 * GRID_LIMIT / (GRID_POINTS - 1)
    capped = scores * (np.minimum(lengths, reference) / np.maximum(lengths, 1e-8) * spacing / reference)[:, None]
    start_rows, start_columns = _pixels(grid)
    end_rows, end_columns = _pixels(grid + capped)
    for row, column, end_row, end_column in zip(start_rows, start_columns, end_rows, end_columns):
        draw.line((column, row, end_column, end_row), fill=RGB["score"])
        draw.rectangle((end_column - 1, end_row - 1, end_column + 1, end_row + 1), fill=RGB["score"])  # the head


GAP = 6  # pixels between the panels
PANELS_TOP = 2 * TITLE_HEIGHT + 4  # the panels' insides, under the caption and their titles
PANEL_TITLES = ("score s(x, t) at t = {timestep}", "DDPM samples", "DDIM samples (eta = 0)")


def training_background(data: np.ndarray, timestep: int) -> np.ndarray:
    """What every snapshot of a training shares: three titled, framed panels over the data (grey); drawn once per
    training (the data's 2,000 dots and the titles were most of a picture's time, in a class of 30 at once)."""
    picture = Image.new("RGB", (3 * PANEL + 2 * GAP, PANELS_TOP + PANEL), "white")
    draw = ImageDraw.Draw(picture)
    canvas = np.full((PANEL, PANEL, 3), 255, np.uint8)
    _dots(canvas, data, RGB["data"])
    for index, title in enumerate(PANEL_TITLES):
        left = index * (PANEL + GAP)
        picture.paste(Image.fromarray(canvas), (left, PANELS_TOP))
        draw.rectangle((left, PANELS_TOP, left + PANEL - 1, PANELS_TOP + PANEL - 1), outline=(120,) * 3)
        draw.text(
            (left + 4, PANELS_TOP - TITLE_HEIGHT + 2), title.format(timestep=timestep), fill=RGB["text"], font=_font()
        )
    return np.asarray(picture)


def training_picture(
    background: np.ndarray, grid: np.ndarray, scores: np.ndarray, ddpm: np.ndarray, ddim: np.ndarray, caption: str
) -> np.ndarray:
    """A snapshot over its training's `background`: the score field at t (red arrows), DDPM's particles and DDIM's
    (blue), under a caption; (height, width, 3) uint8."""
    picture = background.copy()
    for index, particles in ((1, ddpm), (2, ddim)):
        left = index * (PANEL + GAP)
        _dots(picture[PANELS_TOP : PANELS_TOP + PANEL, left : left + PANEL], particles, RGB["particles"])
    image = Image.fromarray(picture)
    panel = image.crop((0, PANELS_TOP, PANEL, PANELS_TOP + PANEL))
    _arrows(ImageDraw.Draw(panel), grid, scores)
    image.paste(panel, (0, PANELS_TOP))
    ImageDraw.Draw(image).text((4, 2), caption, fill=RGB["text"], font=_font(13))
    return np.asarray(image)


def _loss_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The loss plot's frame: left, top, right, bottom."""
    return 44, 20, width - 10, height - 22


@functools.lru_cache(maxsize=8)
def _loss_frame(total_steps: int, width: int, height: int) -> np.ndarray:
    """What every loss curve of a training shares: the frame, the title and the steps' axis."""
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    left, top, right, bottom = _loss_box(width, height)
    draw.rectangle((left, top, right, bottom), outline=(120, 120, 120))
    draw.text((left, 3), "loss |eps - eps_hat|^2 per step (grey), mean of 50 (blue)", fill=RGB["text"], font=_font())
    draw.text((left, bottom + 5), "0", fill=RGB["text"], font=_font(11))
    draw.text((right - 40, bottom + 5), f"{total_steps} steps", fill=RGB["text"], font=_font(11))
    return np.asarray(picture)


def loss_picture(
    losses: np.ndarray, total_steps: int, width: int = 3 * PANEL + 2 * GAP, height: int = 200
) -> np.ndarray:
    """The loss of every step (faint) and its running mean over 50 steps, log scale, against the step."""
    picture = Image.fromarray(_loss_frame(total_steps, width, height))
    draw = ImageDraw.Draw(picture)
    left, top, right, bottom = _loss_box(width, height)
    losses = np.asarray(losses, dtype=np.float64)
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if len(losses) == 0:
        return np.asarray(picture)
    logs = np.log10(losses)
    low, high = np.floor(logs.min() * 2) / 2, np.ceil(logs.max() * 2) / 2 + 1e-9
    for level in np.arange(low, high + 0.01, 0.5):  # grid lines at 10^(k/2)
        row = bottom - (level - low) / (high - low) * (bottom - top)
        draw.line((left, row, right, row), fill=(230, 230, 230))
        draw.text((2, row - 7), f"{10**level:.2g}", fill=RGB["text"], font=_font(11))

    def line(values: np.ndarray, colour: tuple[int, int, int]) -> None:
        columns = left + np.arange(len(values)) / max(1, total_steps - 1) * (right - left)
        rows = bottom - (values - low) / (high - low) * (bottom - top)
        draw.line(list(zip(columns.tolist(), rows.tolist())), fill=colour, width=1 if colour == RGB["data"] else 2)

    line(logs, RGB["data"])
    window = 50
    sums = np.cumsum(losses)
    sums[window:] = sums[window:] - sums[:-window]
    line(np.log10(sums / np.minimum(np.arange(1, len(losses) + 1), window)), RGB["particles"])
    return np.asarray(picture)
