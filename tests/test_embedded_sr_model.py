"""The committed model assets/models/photo-sr-4x: plain diffusers runs it, and it upscales a held-out photo well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from diffusers import LDMSuperResolutionPipeline
from PIL import Image

from pipelines.loading import MODELS_DIR
from pipelines.super_resolution import DEFAULT_MODEL, bicubic, generate
from train.evaluate_super_resolution import psnr
from train.photos import downsample, load_photo

MODEL_DIR = MODELS_DIR / DEFAULT_MODEL


def test_plain_diffusers_loads_and_runs_it() -> None:
    pipeline = LDMSuperResolutionPipeline.from_pretrained(MODEL_DIR)
    pipeline.set_progress_bar_config(disable=True)
    output = pipeline(Image.new("RGB", (32, 32), (120, 80, 40)), num_inference_steps=3, output_type="np")
    assert output.images.shape == (1, 128, 128, 3)
    assert sum(path.stat().st_size for path in Path(MODEL_DIR).rglob("*") if path.is_file()) < 30 * 2**20


def test_a_held_out_photo_comes_back_4x_larger_and_closer_than_bicubic() -> None:
    original = load_photo("astronaut")[64:320, 128:384]  # 256x256 around the face: never seen in training
    low_resolution = downsample(Image.fromarray(original))
    result = generate(model=DEFAULT_MODEL, image=low_resolution, seed=0).predicted_original[0]
    assert result.shape == original.shape
    assert psnr(result, original) >= psnr(bicubic(low_resolution), original)  # README: the full figures
    assert np.abs(result.astype(int) - original).mean() < 10
