"""The forward process q(x_t | x_0) in closed form, the noise schedules it follows, and what a model predicts.

    from pipelines import forward_process
    view = forward_process.forward(image, timestep=500, schedule="cosine", seed=0)  # x_t, ᾱ_t, notices
    prediction = forward_process.predict_noise(image, timestep=500, seed=0)  # x_t, ε, ε̂, x̂0, error

DDPM's "jump to any t" (Ho et al. 2020, eq. 4): x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε with ε ~ N(0, I). The noise ε
is drawn once from the seed, so moving t only changes the weights of x_0 and ε: the view is continuous.
Every schedule is built by diffusers' DDPMScheduler, so its ᾱ_t are exactly those diffusers trains and
samples with. Timesteps are diffusers' 0 .. T−1; diffusers' t = 0 is the paper's t = 1 (one step of noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from pipelines.defaults.forward_process import NUM_TRAIN_TIMESTEPS, SCHEDULES
from pipelines.engine import torch_thread
from pipelines.engine.frames import LATENT_RANGE, to_uint8_images
from pipelines.engine.images import fit_size, resize_for_model, to_rgb
from pipelines.engine.loading import load_pipeline, scheduler_config
from pipelines.engine.sampling import predict_original
from pipelines.unconditional import DEFAULT_MODEL, MAX_SEED, PIPELINE_CLASSES

STRIP_TIMESTEPS = (0, 50, 100, 250, 500, 750, 999)  # for T = 1000; other T scale them
STRIP_SIZE = 128  # the strip's pictures are shrunk to this many pixels
MAX_SIDE = 512  # larger images are reduced: the slider redraws within ~0.2 s on 2 cores
NOISE_RANGE = LATENT_RANGE  # unit-variance noise shown from -3 (black) to +3 (white), as latents are


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule '{schedule}'; choose one of: {', '.join(SCHEDULES)}.")


def check_timestep(timestep: int, count: int) -> None:
    if not 0 <= timestep < count:
        raise ValueError(f"Timestep must be between 0 and {count - 1} for this schedule; got {timestep}.")


def check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be between 0 and {MAX_SEED}; got {seed}.")


@lru_cache(maxsize=8)
def _schedule_alphas_cumprod(settings: tuple) -> np.ndarray:
    scheduler = torch_thread.run(DDPMScheduler, **dict(settings))
    return scheduler.alphas_cumprod.double().numpy()


def model_scheduler_settings(model: str) -> dict:
    """The settings of `model`'s own noise schedule: its T and betas."""
    config = scheduler_config(model, PIPELINE_CLASSES)
    names = ("num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "trained_betas")
    settings = {name: config[name] for name in names if name in config}
    if config.get("rescale_betas_zero_snr"):
        settings["rescale_betas_zero_snr"] = True
    if settings.get("trained_betas") is not None:
        settings["trained_betas"] = tuple(settings["trained_betas"])
    return settings


def alphas_cumprod(schedule: str, model: str = DEFAULT_MODEL) -> np.ndarray:
    """ᾱ_t for t = 0 .. T−1 (float64, T = 1000 except for a model trained with another T)."""
    check_schedule(schedule)
    settings = SCHEDULES[schedule] or model_scheduler_settings(model)
    settings = {"num_train_timesteps": NUM_TRAIN_TIMESTEPS, **settings}
    return _schedule_alphas_cumprod(tuple(sorted(settings.items())))


def strip_timesteps(count: int) -> list[int]:
    """STRIP_TIMESTEPS scaled to a schedule of `count` timesteps."""
    return sorted({round(timestep * (count - 1) / (NUM_TRAIN_TIMESTEPS - 1)) for timestep in STRIP_TIMESTEPS})


def seeded_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return randn_tensor(shape, generator=torch.Generator().manual_seed(seed))


def noisy_sample(clean: torch.Tensor, alpha_prod: float | torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    # x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (DDPM eq. 4): any t in one step, no loop over t
    return alpha_prod**0.5 * clean + (1 - alpha_prod) ** 0.5 * noise


def prepare_image(image: Image.Image | None) -> tuple[Image.Image, list[str]]:
    """8-bit RGB, its longer side at most MAX_SIDE; with notices of what was done."""
    if image is None:
        raise ValueError("Choose an example image or upload one.")
    image, notices = to_rgb(image)
    if max(image.size) > MAX_SIDE:
        size = fit_size(*image.size, MAX_SIDE, 1)
        notices.append(f"The image was reduced from {image.width}×{image.height} to {size[0]}×{size[1]}.")
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image, notices


def to_tensor(image: Image.Image) -> torch.Tensor:
    """(1, channels, height, width) in [-1, 1]; greyscale images give 1 channel."""
    pixels = np.asarray(image, dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1)[None]


@dataclass(frozen=True)
class ForwardView:
    noisy_sample: np.ndarray  # x_t, (height, width, 3) uint8 at the (reduced) image's size
    alpha_prod: float  # ᾱ_t
    notices: list[str]


def forward(
    image: Image.Image | None, timestep: int, schedule: str, seed: int, model: str = DEFAULT_MODEL
) -> ForwardView:
    """x_t of `image` at `timestep` on `schedule`, the noise drawn from `seed`."""
    check_seed(seed)
    schedule_alphas = alphas_cumprod(schedule, model)
    check_timestep(timestep, len(schedule_alphas))
    image, notices = prepare_image(image)

    def draw() -> np.ndarray:
        clean = to_tensor(image)
        noisy = noisy_sample(clean, float(schedule_alphas[timestep]), seeded_noise(clean.shape, seed))
        return to_uint8_images(noisy)[0]

    return ForwardView(torch_thread.run(draw), float(schedule_alphas[timestep]), notices)


def strip(
    image: Image.Image | None, schedule: str, seed: int, model: str = DEFAULT_MODEL
) -> list[tuple[int, np.ndarray]]:
    """(t, x_t) at the strip's timesteps, x_t shrunk to at most STRIP_SIZE pixels."""
    check_seed(seed)
    schedule_alphas = alphas_cumprod(schedule, model)
    image, _ = prepare_image(image)

    def draw() -> list[tuple[int, np.ndarray]]:
        clean = to_tensor(image)
        noise = seeded_noise(clean.shape, seed)
        timesteps = strip_timesteps(len(schedule_alphas))
        noisy = torch.cat([noisy_sample(clean, float(schedule_alphas[t]), noise) for t in timesteps])
        return list(zip(timesteps, to_uint8_images(noisy, max_size=STRIP_SIZE)))

    return torch_thread.run(draw)


@dataclass(frozen=True)
class NoisePrediction:
    """One model call at t, as tensors (1, channels, height, width) at the model's size."""

    noisy_sample: torch.Tensor  # x_t
    noise: torch.Tensor  # ε, the noise that was added
    predicted_noise: torch.Tensor  # ε̂, whatever the model predicts converted to noise
    predicted_original: torch.Tensor  # x̂0 from ε̂, not clipped
    error: float  # mean of (ε̂ − ε)², the training loss of an ε-predicting model at this t


def predicted_noise(
    noisy: torch.Tensor, model_output: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """ε̂ from the model's output, whichever quantity it predicts."""
    if prediction_type == "epsilon":
        return model_output
    if prediction_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1-a) x_t (Salimans & Ho 2022, sec. 4)
        return alpha_prod.sqrt() * model_output + (1 - alpha_prod).sqrt() * noisy
    if prediction_type == "sample":  # x_t = sqrt(a) x0 + sqrt(1-a) eps, solved for eps
        return (noisy - alpha_prod.sqrt() * model_output) / (1 - alpha_prod).sqrt()
    raise ValueError(f"Unknown prediction type '{prediction_type}'; models predict epsilon, v_prediction or sample.")


@torch.no_grad()
def predict_at(
    unet: UNet2DModel,
    prediction_type: str,
    alpha_prod: float,
    clean: torch.Tensor,
    timestep: int,
    noise: torch.Tensor,
) -> NoisePrediction:
    """Noise `clean` to x_t in one step (ᾱ_t = `alpha_prod`) and let `unet` predict the noise in it."""
    alpha_prod = torch.tensor(alpha_prod, dtype=clean.dtype, device=clean.device)
    # 1. forward process in closed form (DDPM eq. 4)
    noisy = noisy_sample(clean, alpha_prod, noise)
    # 2. one model call at t: its output is eps, v or x0, as its scheduler config says
    model_output = unet(noisy, torch.tensor([timestep])).sample
    # 3. eps-hat, then x0-hat = (x_t - sqrt(1 - abar_t) eps-hat) / sqrt(abar_t) (DDPM eq. 15)
    noise_estimate = predicted_noise(noisy, model_output, alpha_prod, prediction_type)
    original_estimate = predict_original(noisy, noise_estimate, alpha_prod, "epsilon")
    # 4. the simple loss ||eps - eps-hat||^2 (DDPM eq. 14), averaged over pixels and channels
    error = float((noise_estimate - noise).pow(2).mean())
    return NoisePrediction(noisy, noise, noise_estimate, original_estimate, error)


@dataclass(frozen=True)
class PredictionView:
    """What the prediction panel shows: uint8 (height, width, 3) pictures at the (reduced) image's size."""

    noisy_sample: np.ndarray
    noise: np.ndarray  # shown from -NOISE_RANGE to +NOISE_RANGE
    predicted_noise: np.ndarray  # likewise
    predicted_original: np.ndarray  # clipped to [-1, 1]
    error: float
    alpha_prod: float  # ᾱ_t of the model's own schedule
    prediction_type: str
    model_size: tuple[int, int]  # width, height the model saw
    notices: list[str]


def predict_noise(image: Image.Image | None, timestep: int, seed: int, model: str = DEFAULT_MODEL) -> PredictionView:
    """One call of `model` on x_t of `image` at `timestep` (its own schedule), the noise drawn from `seed`.

    The model sees the image at its own sample size (a UNet trained on 32 pixels sees 32 pixels), so x_t, ε,
    ε̂ and x̂0 are computed there and enlarged back to the image's size, pixel for pixel (nearest neighbour).
    """
    check_seed(seed)
    shared = load_pipeline(model, PIPELINE_CLASSES)
    unet = shared.unet
    if not isinstance(unet, UNet2DModel) or unet.config.in_channels not in (1, 3):
        raise ValueError("The prediction needs an unconditional UNet2DModel of 1 (grey) or 3 (RGB) channels.")
    prediction_type = shared.scheduler.config.prediction_type
    model_alphas = alphas_cumprod("model", model)
    check_timestep(timestep, len(model_alphas))
    image, notices = prepare_image(image)
    sample_size = unet.config.sample_size
    longest = sample_size if isinstance(sample_size, int) else max(sample_size)
    multiple = 2 ** (len(unet.config.block_out_channels) - 1)  # each down block but the last halves the size
    model_input = image.convert("L") if unet.config.in_channels == 1 else image
    model_image, resized = resize_for_model(model_input, longest, multiple)
    if resized:
        notices.append(resized[0] + f" The pictures below are enlarged back to {image.width}×{image.height}.")

    def run() -> tuple[NoisePrediction, list[np.ndarray]]:
        clean = to_tensor(model_image).to(unet.device, unet.dtype)
        noise = seeded_noise(clean.shape, seed).to(clean)
        prediction = predict_at(unet, prediction_type, float(model_alphas[timestep]), clean, timestep, noise)
        pictures = [
            prediction.noisy_sample,
            prediction.noise / NOISE_RANGE,
            prediction.predicted_noise / NOISE_RANGE,
            prediction.predicted_original,
        ]
        size = (image.height, image.width)
        return prediction, [
            to_uint8_images(F.interpolate(picture, size=size, mode="nearest"))[0] for picture in pictures
        ]

    prediction, (noisy, noise, noise_estimate, original_estimate) = torch_thread.run(run)
    return PredictionView(
        noisy,
        noise,
        noise_estimate,
        original_estimate,
        prediction.error,
        float(model_alphas[timestep]),
        prediction_type,
        model_image.size,
        notices,
    )
