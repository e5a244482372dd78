"""The How it works tab's figures: the noise schedules, the 2D toy's score field and its reverse process.

Drawn by matplotlib into (height, width, 3) uint8 arrays, through `Figure` and the Agg canvas rather than
pyplot: pyplot keeps global state, and Gradio draws figures for several users at once on its worker threads.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipelines.engine.sampling import log_signal_to_noise
from pipelines.toy2d import GRID_LIMIT, GRID_POINTS, ToyStep, ToyView

COLOURS = ("tab:blue", "tab:orange", "tab:green", "black")  # the schedules, in the picker's order
LIMIT = 2.2  # the toy's axes: [-2.2, 2.2]², the data and most of the noised cloud
DATA_COLOUR, NOISY_COLOUR, SCORE_COLOUR = "#bbbbbb", "tab:blue", "tab:red"


def to_image(figure: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def schedule_figure(curves: dict[str, np.ndarray], timestep: int, selected: str) -> np.ndarray:
    """ᾱ_t and log SNR(t) of every schedule in `curves` (label -> ᾱ), a marker at `timestep`; `selected` in bold."""
    figure = Figure(figsize=(7.2, 2.8), dpi=100, layout="constrained")
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
    figure = Figure(figsize=(5.2, 5.2), dpi=100, layout="constrained")
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
    figure = Figure(figsize=(8.4, 4.4), dpi=100, layout="constrained")
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
