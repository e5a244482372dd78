"""Score 4x super-resolution on the held-out photographs against bicubic upsampling.

    python -m train.evaluate --super-resolution                     # the app's defaults: ~1 minute on 2 cores
    python -m train.evaluate --super-resolution --all-settings      # also more and fewer steps, eta 1
    python -m train.evaluate --super-resolution --model CompVis/ldm-super-resolution-4x-openimages  # with internet

Each held-out photograph (train.photos.HELD_OUT_PHOTOS: never seen in training) is shrunk 4x with
bicubic filtering, the degradation the model was trained on, and upscaled back by each method.
Figures, against the original, averaged over the photographs:
- PSNR in dB over RGB (higher is closer pixel by pixel);
- SSIM (Wang et al. 2004; structure, 1 = identical);
- sharpness: the mean squared gradient of the grey image relative to the original's (1 = as much
  fine detail as the original; bicubic is blurry, well below 1).
For a latent model (an `LDMSuperResolutionPipeline`) the "autoencoder round trip" row encodes and
decodes the original itself: the best the diffusion model could do with this autoencoder. The
app back-projects its result onto the input (`pipelines.super_resolution.back_project`); so that
this step gets no credit for the model, bicubic is also scored back-projected, and the model also
without it ("raw"). No perceptual figure: the `lpips` package pulls a CUDA torch and torchvision
from PyPI, and its network's weights are a download.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from pipelines import super_resolution
from pipelines.defaults import super_resolution as defaults
from pipelines.engine import torch_thread
from pipelines.engine.frames import to_uint8_images
from pipelines.engine.loading import load_pipeline
from train.photos import HELD_OUT_PHOTOS, SCALE, downsample, load_photo


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(image, reference, channel_axis=2, data_range=255))


def gradient_energy(image: np.ndarray) -> float:
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float(np.mean(np.diff(grey, axis=0) ** 2) + np.mean(np.diff(grey, axis=1) ** 2))


def held_out_pairs() -> list[tuple[str, np.ndarray, Image.Image]]:
    """(name, original cropped to a multiple of 4, its 4x-downsampled version) of each held-out photograph."""
    pairs = []
    for name in HELD_OUT_PHOTOS:
        photo = load_photo(name)
        height, width = (side - side % SCALE for side in photo.shape[:2])
        original = photo[:height, :width]
        pairs.append((name, original, downsample(Image.fromarray(original))))
    return pairs


def autoencoder_round_trip(model: str, original: np.ndarray) -> np.ndarray:
    vqvae = load_pipeline(model, super_resolution.PIPELINE_CLASSES).vqvae

    @torch.no_grad()
    def round_trip() -> np.ndarray:
        return to_uint8_images(vqvae.decode(vqvae.encode(to_tensor(original)).latents).sample)[0]

    return torch_thread.run(round_trip)  # where the app's torch work runs: torch on two threads is slow


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(height, width, 3) uint8 -> (1, 3, height, width) in [-1, 1]."""
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def back_projected_bicubic(low_resolution: Image.Image) -> np.ndarray:
    low = to_tensor(np.asarray(low_resolution))
    upscaled = to_tensor(super_resolution.bicubic(low_resolution))
    return to_uint8_images(super_resolution.back_project(upscaled, low))[0]


def scores(upscale, pairs: list) -> dict:
    """Mean PSNR, SSIM, relative sharpness and seconds of `upscale(original, low_resolution)` over `pairs`."""
    rows = []
    for _, original, low_resolution in pairs:
        started = time.perf_counter()
        result = upscale(original, low_resolution)
        seconds = time.perf_counter() - started
        sharpness = gradient_energy(result) / gradient_energy(original)
        rows.append((psnr(result, original), ssim(result, original), sharpness, seconds))
    psnr_mean, ssim_mean, sharpness_mean, seconds_mean = np.mean(rows, axis=0)
    return {
        "PSNR (dB)": f"{psnr_mean:.2f}",
        "SSIM": f"{ssim_mean:.3f}",
        "sharpness": f"{sharpness_mean:.2f}",
        "seconds": f"{seconds_mean:.1f}",
    }


def report(model: str, settings: list[dict] | None = None) -> str:
    """A markdown table: bicubic, the autoencoder's round trip, then the model at each of `settings`."""
    settings = settings or [DEFAULT_SETTINGS, RAW_SETTINGS, {**ONE_SAMPLE, "consistent": False}]
    pairs = held_out_pairs()
    names = ", ".join(f"{name} ({original.shape[1]}×{original.shape[0]})" for name, original, _ in pairs)
    rows = {
        "bicubic": scores(lambda original, low: super_resolution.bicubic(low), pairs),
        "bicubic, back-projected": scores(lambda original, low: back_projected_bicubic(low), pairs),
    }
    if hasattr(load_pipeline(model, super_resolution.PIPELINE_CLASSES), "vqvae"):
        rows["autoencoder round trip (the original encoded and decoded)"] = scores(
            lambda original, low: autoencoder_round_trip(model, original), pairs
        )
    for setting in settings:
        name = model.rstrip("/").split("/")[-1]
        label = f"{name}: {setting['scheduler']} {setting['steps']} steps, eta {setting['eta']:g}"
        label += f", mean of {setting['samples']} samples" if setting["samples"] > 1 else ", one sample"
        label += ", back-projected" if setting["consistent"] else ", raw"
        rows[label] = scores(
            lambda original, low, setting=setting: super_resolution.generate(
                model=model, image=low, seed=0, **setting
            ).predicted_original[0],
            pairs,
        )
    table = ["| method | PSNR (dB) | SSIM | sharpness | seconds |", "| --- | --- | --- | --- | --- |"]
    table += [f"| {label} | {' | '.join(figures.values())} |" for label, figures in rows.items()]
    return f"Held-out photographs: {names}, shrunk 4x and upscaled back.\n\n" + "\n".join(table)


DEFAULT_SETTINGS = {
    "scheduler": super_resolution.DEFAULT_SCHEDULER,
    "steps": super_resolution.DEFAULT_STEPS,
    "eta": super_resolution.DEFAULT_ETA,
    "consistent": True,
    "samples": defaults.DEFAULT_SAMPLES,
}
RAW_SETTINGS = {**DEFAULT_SETTINGS, "consistent": False}
ONE_SAMPLE = {**DEFAULT_SETTINGS, "samples": 1}
COMPARED_SETTINGS = [  # the app's default first; then one sample, with more steps: sharper, further from the original
    DEFAULT_SETTINGS,
    RAW_SETTINGS,
    ONE_SAMPLE,
    {**ONE_SAMPLE, "consistent": False},
    {**ONE_SAMPLE, "steps": 2},
    {**ONE_SAMPLE, "steps": 5},
    {**ONE_SAMPLE, "steps": 20},
    {**ONE_SAMPLE, "steps": 20, "eta": 1.0},
    {**DEFAULT_SETTINGS, "steps": 20},
]
