"""The latent space of latent diffusion: what the text model's VAE makes of any image, and what diffusing there saves.

    from pipelines import latent_space
    view = latent_space.encode("shapes-sd", image, timestep=500, seed=0)  # channels, round trip, PSNR, noised
    timing = latent_space.step_timings("shapes-sd")                       # one UNet step on latents vs on pixels

Latent diffusion (Rombach et al. 2022) trains an autoencoder once, then diffuses its latents z = E(x) instead of the
pixels: the embedded shapes-sd turns a 32×32×3 image into 8×8×4 numbers, 12× fewer, and its UNet works on those. The
forward process is the same formula in either space, z_t = √ᾱ_t · z_0 + √(1 − ᾱ_t) · ε; but noise added to the
latents, decoded, is not noise on the pixels: it changes the shapes and colours the decoder draws.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from pipelines.engine import torch_thread
from pipelines.engine.frames import LATENT_RANGE, to_uint8_images
from pipelines.engine.images import resize_for_model
from pipelines.engine.loading import load_pipeline
from pipelines.forward_process import check_seed, check_timestep, noisy_sample, prepare_image, seeded_noise, to_tensor
from pipelines.text_to_image import DEFAULT_MODEL, PIPELINE_CLASSES

PIXEL_MODEL = "shapes-ddpm"  # the pixel-space model the timing compares with
TIMED_CALLS = 5  # one UNet step is timed as the median of this many calls
SHOWN_SIZE = 128  # the latent channels are enlarged to about this many pixels


def model_image_size(pipeline: StableDiffusionPipeline) -> int:
    """The side of the images `pipeline` draws: its UNet's latent size times the VAE's downsampling."""
    sample_size = pipeline.unet.config.sample_size
    return pipeline.vae_scale_factor * (sample_size if isinstance(sample_size, int) else max(sample_size))


def encode_latents(pipeline: StableDiffusionPipeline, pixels: torch.Tensor) -> torch.Tensor:
    """The VAE's latents of (batch, 3, H, W) pixels in [-1, 1], scaled as the UNet takes them (its mean, no noise)."""
    return pipeline.vae.encode(pixels).latent_dist.mean * pipeline.vae.config.scaling_factor


def decode_latents(pipeline: StableDiffusionPipeline, latents: torch.Tensor) -> torch.Tensor:
    return pipeline.vae.decode(latents / pipeline.vae.config.scaling_factor).sample


def model_input(pipeline: StableDiffusionPipeline, image: Image.Image | None) -> tuple[Image.Image, list[str]]:
    """The image as the model takes it: 8-bit RGB at its own size; with notices of what was done."""
    image, notices = prepare_image(image)
    resized, more = resize_for_model(image, model_image_size(pipeline), pipeline.vae_scale_factor)
    return resized, notices + more


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (infinite when they are equal)."""
    error = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return math.inf if error == 0 else 10 * math.log10(255**2 / error)


def enlarged(image: np.ndarray, size: int = SHOWN_SIZE) -> np.ndarray:
    scale = max(1, size // max(image.shape[:2]))
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


@dataclass(frozen=True)
class LatentSpaceView:
    """What the latent-space panel shows; uint8 pictures (height, width, 3)."""

    image: np.ndarray  # the input at the model's size
    channels: list[np.ndarray]  # each latent channel in grey, -3 black .. +3 white, enlarged
    round_trip: np.ndarray  # D(E(x))
    psnr: float  # of the round trip against the input, dB
    pixel_values: int  # numbers in the image
    latent_shape: tuple[int, ...]  # its latent's (height, width, channels)
    noised_pixels: np.ndarray  # x_t: noise added to the pixels at t
    noised_latents: np.ndarray  # D(z_t): noise added to the latents at t, decoded
    alpha_prod: float
    notices: list[str]


def encode(model: str, image: Image.Image | None, timestep: int, seed: int) -> LatentSpaceView:
    """`image` through `model`'s VAE and back; and noise at `timestep` of its schedule, in pixel and latent space."""
    check_seed(seed)
    pipeline = load_pipeline(model, PIPELINE_CLASSES)
    alphas_cumprod = pipeline.scheduler.alphas_cumprod
    check_timestep(timestep, len(alphas_cumprod))
    image, notices = model_input(pipeline, image)
    alpha_prod = float(alphas_cumprod[timestep])

    def run() -> tuple:
        with torch.no_grad():
            pixels = to_tensor(image).to(pipeline.vae.device, pipeline.vae.dtype)
            latents = encode_latents(pipeline, pixels)
            decoded = decode_latents(pipeline, latents)
            noised_pixels = noisy_sample(pixels, alpha_prod, seeded_noise(pixels.shape, seed).to(pixels))
            noised_latents = noisy_sample(latents, alpha_prod, seeded_noise(latents.shape, seed).to(latents))
            channels = to_uint8_images((latents[0, :, None] / LATENT_RANGE).float())
            pictures = [to_uint8_images(picture)[0] for picture in (pixels, decoded, noised_pixels)]
            return latents.shape, channels, *pictures, to_uint8_images(decode_latents(pipeline, noised_latents))[0]

    shape, channels, shown, decoded, noised_pixels, noised_latents = torch_thread.run(run)
    return LatentSpaceView(
        image=shown,
        channels=[enlarged(channel) for channel in channels],
        round_trip=decoded,
        psnr=psnr(decoded, shown),
        pixel_values=shown.size,
        latent_shape=(shape[2], shape[3], shape[1]),
        noised_pixels=noised_pixels,
        noised_latents=noised_latents,
        alpha_prod=alpha_prod,
        notices=notices,
    )


@dataclass(frozen=True)
class StepTimings:
    latent_seconds: float  # one call of the text model's UNet on one latent (conditioned on a prompt)
    latent_shape: tuple[int, ...]
    pixel_seconds: float  # one call of the pixel model's UNet on one image
    pixel_shape: tuple[int, ...]


def median_seconds(call: callable) -> float:
    call()  # warm up: the first call allocates
    seconds = []
    for _ in range(TIMED_CALLS):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def step_timings(model: str = DEFAULT_MODEL, pixel_model: str = PIXEL_MODEL) -> StepTimings:
    """One UNet step of `model` on its latents against one of `pixel_model` on its pixels, timed now (medians)."""
    latent_pipeline = load_pipeline(model, PIPELINE_CLASSES)
    pixel_pipeline = load_pipeline(pixel_model, ("DDPMPipeline",))
    latent_unet, pixel_unet = latent_pipeline.unet, pixel_pipeline.unet
    size = model_image_size(latent_pipeline) // latent_pipeline.vae_scale_factor
    latent_shape = (1, latent_unet.config.in_channels, size, size)
    pixel_size = pixel_unet.config.sample_size
    pixel_shape = (1, pixel_unet.config.in_channels, pixel_size, pixel_size)

    def run() -> tuple[float, float]:
        with torch.no_grad():
            latents = torch.randn(latent_shape).to(latent_unet.device, latent_unet.dtype)
            prompt, _ = latent_pipeline.encode_prompt("", latent_unet.device, 1, False)
            pixels = torch.randn(pixel_shape).to(pixel_unet.device, pixel_unet.dtype)
            timestep = torch.tensor([500])
            return (
                median_seconds(lambda: latent_unet(latents, timestep, encoder_hidden_states=prompt)),
                median_seconds(lambda: pixel_unet(pixels, timestep)),
            )

    latent_seconds, pixel_seconds = torch_thread.run(run)
    return StepTimings(latent_seconds, latent_shape, pixel_seconds, pixel_shape)
