"""The 2D toy: a tiny network that predicts the noise in noisy 2D points, the score field it defines, and the
reverse process of a cloud of particles, DDPM and DDIM side by side.

    from pipelines import toy2d
    view = toy2d.noised_view("two moons", timestep=200)  # data, noised cloud, score arrows on a grid
    for step in toy2d.reverse_steps("ring", steps=100, seed=0):  # particles, DDPM and DDIM from the same noise
        print(step.timestep, step.ddpm.std(), step.ddim.std())

Points live in the plane (about [-1.5, 1.5]²), so what the images hide is visible: the network ε̂(x_t, t)
is a vector field, and s(x, t) = −ε̂/√(1−ᾱ_t) is the score ∇ log p_t(x) (Song et al. 2021), which points
towards where the data is. The networks are trained by `python -m train.train_toy2d` (seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import load_file

from pipelines.defaults.toy import DATA_SETS, GRID_LIMIT, GRID_POINTS, PARTICLES, TOY_SCHEDULES, WORD
from pipelines.engine import torch_thread
from pipelines.engine.frames import Step
from pipelines.engine.sampling import reverse_process
from pipelines.forward_process import SCHEDULES, check_seed, check_timestep, noisy_sample

MODELS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models" / "toy2d"


def schedule_config(schedule: str) -> dict:
    """A DDPM/DDIM scheduler config of T = 1000 on `schedule`; "trailing" spacing starts every run at t = T-1,
    from pure noise."""
    if schedule not in TOY_SCHEDULES:
        raise ValueError(f"Unknown schedule '{schedule}'; choose one of: {', '.join(TOY_SCHEDULES)}.")
    return {"num_train_timesteps": 1000, **SCHEDULES[schedule], "clip_sample": False, "timestep_spacing": "trailing"}


SCHEDULE = schedule_config("linear")  # the committed networks': DDPM's linear schedule
HIDDEN = 128  # width of the network's three hidden layers
EMBEDDING = 32  # size of each sinusoidal embedding: of x, of y, of t
COORDINATE_SCALE = 25.0  # coordinates are embedded as if they were timesteps 25 times as large


class NoisePredictor(torch.nn.Module):
    """ε̂(x_t, t): an MLP on sinusoidal embeddings of the point's coordinates and of t.

    t is embedded as DDPM's UNet embeds it; the coordinates too, at a higher frequency (as tanelp's
    tiny-diffusion does): a plain MLP on (x, y) draws smooth fields and blurs thin strokes like the letters'.
    """

    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(3 * EMBEDDING, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, 2),
        )

    def forward(self, points: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.layers(self.embed(points, timesteps))

    @staticmethod
    def embed(points: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """What the layers see: the embeddings of x, y and t side by side, (points, 3 * EMBEDDING)."""
        return sinusoids(points, timesteps, frequencies())


def sinusoids(
    points: torch.Tensor, timesteps: torch.Tensor, frequencies: torch.Tensor, scale: float = COORDINATE_SCALE
) -> torch.Tensor:
    """The embeddings of points (..., 2) and timesteps (their leading shape, or one for all): x and y (scaled by
    COORDINATE_SCALE) and t each as diffusers' `get_timestep_embedding` makes it (DDPM's sinusoids, cos then sin), the
    three at once (a class of students' batches in a few operations; TorchScript compiles it too); (..., 96)."""
    timesteps = timesteps.float().expand(points.shape[:-1]).unsqueeze(-1)
    values = torch.cat([points * scale, timesteps], dim=-1)  # (..., 3)
    angles = values.unsqueeze(-1) * frequencies  # (..., 3, EMBEDDING / 2)
    return torch.cat([angles.cos(), angles.sin()], dim=-1).flatten(-2)


@lru_cache(maxsize=1)
def frequencies() -> torch.Tensor:
    """The sinusoids' frequencies, as `get_timestep_embedding` makes them: exp(−ln(10000) · i / (half − 1))."""
    half = EMBEDDING // 2
    return torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - 1))


def check_data_set(data_set: str) -> None:
    if data_set not in DATA_SETS:
        raise ValueError(f"Unknown data set '{data_set}'; choose one of: {', '.join(DATA_SETS)}.")


def file_name(data_set: str) -> str:
    return data_set.replace(" ", "-") + ".safetensors"


@lru_cache(maxsize=1)
def word_pixels() -> np.ndarray:
    """(row, column) of the pixels of WORD drawn in Pillow's built-in font, centred on (0, 0)."""
    image = Image.new("L", (64 * len(WORD), 96))
    font = ImageFont.load_default(size=64)
    ImageDraw.Draw(image).text((4, 4), WORD, fill=255, font=font, stroke_width=3, stroke_fill=255)  # bold
    rows, columns = np.nonzero(np.asarray(image) > 127)
    pixels = np.stack([rows, columns], axis=1).astype(np.float64)
    return pixels - (pixels.min(0) + pixels.max(0) + 1) / 2


def sample_data(data_set: str, count: int, seed: int) -> np.ndarray:
    """`count` points of `data_set`, (count, 2) float32, the same for the same seed."""
    check_data_set(data_set)
    rng = np.random.default_rng(seed)
    if data_set == "two moons":  # two interleaved half circles, centred
        angles = rng.uniform(0, np.pi, count)
        upper = rng.random(count) < 0.5
        x = np.where(upper, np.cos(angles), 1 - np.cos(angles)) - 0.5
        y = np.where(upper, np.sin(angles), 0.5 - np.sin(angles)) - 0.25
        points = np.stack([x, y], axis=1) / 1.25 + rng.normal(0, 0.04, (count, 2))
    elif data_set == "ring":
        angles = rng.uniform(0, 2 * np.pi, count)
        radii = 1 + rng.normal(0, 0.04, count)
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]
    else:  # the word: pixels of its letters, each point anywhere in its pixel
        pixels = word_pixels()
        chosen = pixels[rng.integers(0, len(pixels), count)] + rng.uniform(-0.5, 0.5, (count, 2))
        points = np.stack([chosen[:, 1], -chosen[:, 0]], axis=1) * (2.4 / np.ptp(pixels[:, 1]))
    return points.astype(np.float32)


@lru_cache(maxsize=len(DATA_SETS))
def load_model(data_set: str) -> NoisePredictor:
    check_data_set(data_set)

    def load() -> NoisePredictor:
        model = NoisePredictor()
        weights = load_file(MODELS_DIR / file_name(data_set))
        model.load_state_dict({name: weight.float() for name, weight in weights.items()})
        return model.eval().requires_grad_(False)

    return torch_thread.run(load)


@lru_cache(maxsize=len(TOY_SCHEDULES))
def alphas_cumprod(schedule: str = "linear") -> torch.Tensor:
    config = schedule_config(schedule)
    return torch_thread.run(lambda: DDPMScheduler(**config).alphas_cumprod)


@dataclass(frozen=True)
class ToyView:
    """What the toy plot shows at t: numpy arrays of (points, 2)."""

    timestep: int
    alpha_prod: float
    data: np.ndarray  # x_0
    noisy: np.ndarray  # x_t of the same points, in one step (DDPM eq. 4)
    grid: np.ndarray  # where the arrows start
    scores: np.ndarray  # s(x, t) = −ε̂(x, t) / √(1 − ᾱ_t) there (Song et al. 2021)


def grid_points() -> torch.Tensor:
    axis = torch.linspace(-GRID_LIMIT, GRID_LIMIT, GRID_POINTS)
    return torch.cartesian_prod(axis, axis)


@torch.no_grad()
def score(model: NoisePredictor, points: torch.Tensor, timestep: int) -> torch.Tensor:
    # the noise prediction is the score up to a factor: s(x, t) = -eps(x, t) / sqrt(1 - abar_t) (Song et al. 2021)
    return -model(points, torch.tensor(timestep)) / (1 - alphas_cumprod()[timestep]).sqrt()


def noised_view(data_set: str, timestep: int, seed: int = 0, count: int = PARTICLES) -> ToyView:
    """The data, its noised cloud at `timestep` and the score field there."""
    check_data_set(data_set)
    check_timestep(timestep, SCHEDULE["num_train_timesteps"])
    check_seed(seed)
    model = load_model(data_set)
    alpha_prod = alphas_cumprod()[timestep]

    def compute() -> ToyView:
        data = torch.from_numpy(sample_data(data_set, count, seed))
        noise = torch.randn(data.shape, generator=torch.Generator().manual_seed(seed))
        grid = grid_points()
        scores = score(model, grid, timestep)
        noisy = noisy_sample(data, alpha_prod, noise)
        return ToyView(timestep, float(alpha_prod), data.numpy(), noisy.numpy(), grid.numpy(), scores.numpy())

    return torch_thread.run(compute)


@dataclass(frozen=True)
class ToyStep(Step):
    """The particles after one step of each sampler, (particles, 2)."""

    ddpm: np.ndarray  # stochastic: DDPM's ancestral step (Ho et al. 2020, algorithm 2)
    ddim: np.ndarray  # deterministic: DDIM with eta = 0 (Song et al. 2020, eq. 12)


def reverse_steps(data_set: str, steps: int, seed: int, count: int = PARTICLES) -> Iterator[ToyStep]:
    """Particles from the same noise through `steps` steps of DDPM and of DDIM, a ToyStep after every step
    (run on the torch thread)."""
    check_data_set(data_set)
    check_seed(seed)
    if not 1 <= steps <= SCHEDULE["num_train_timesteps"]:
        raise ValueError(f"Steps must be between 1 and {SCHEDULE['num_train_timesteps']}; got {steps}.")
    return torch_thread.steps(_reverse_from_noise(load_model(data_set), steps, seed, count))


@torch.no_grad()
def _reverse_from_noise(model: NoisePredictor, steps: int, seed: int, count: int) -> Iterator[ToyStep]:
    """The reverse process of `count` particles on the calling thread (the torch thread): DDPM and DDIM from the
    same noise, a ToyStep after every step."""
    samplers = DDPMScheduler(**SCHEDULE), DDIMScheduler(**SCHEDULE)
    for sampler in samplers:
        sampler.set_timesteps(steps)
    started = time.perf_counter()
    noise = torch.randn(count, 2, generator=torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed + 1)  # DDPM's fresh noise at every step
    ddpm, ddim = (reverse_process(model, sampler, noise, generator=generator) for sampler in samplers)
    for index, (ddpm_step, ddim_step) in enumerate(zip(ddpm, ddim)):
        yield ToyStep(
            step=index + 1,
            total_steps=steps,
            timestep=ddpm_step.timestep,
            elapsed=time.perf_counter() - started,
            ddpm=ddpm_step.sample.numpy(),
            ddim=ddim_step.sample.numpy(),
        )
