"""The committed model assets/models/photo-sr-4x: its own pipeline class loads and runs it, and on a held-out photo
its raw output beats bicubic and the app's default beats it clearly (floors under docs/models.md's figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.defaults.super_resolution import DEFAULT_SAMPLES
from pipelines.engine.loading import MODELS_DIR
from pipelines.models.residual_super_resolution import ResidualSuperResolutionPipeline
from pipelines.super_resolution import DEFAULT_MODEL, bicubic, generate
from train.evaluate_super_resolution import psnr
from train.photos import downsample, load_photo

MODEL_DIR = MODELS_DIR / DEFAULT_MODEL
RAW_GAIN_FLOOR = 1.5  # dB over bicubic of one sample's raw output on the crop below (measured: 1.75)
DEFAULT_GAIN_FLOOR = 1.8  # dB over bicubic of the app's default (8 samples, back-projected) on it (measured: 2.02)


def test_its_pipeline_class_loads_and_runs_it() -> None:
    pipeline = ResidualSuperResolutionPipeline.from_pretrained(MODEL_DIR)
    pipeline.set_progress_bar_config(disable=True)
    output = pipeline(Image.new("RGB", (32, 32), (120, 80, 40)), num_inference_steps=3, output_type="np")
    assert output.images.shape == (1, 128, 128, 3)
    assert sum(path.stat().st_size for path in Path(MODEL_DIR).rglob("*") if path.is_file()) < 30 * 2**20


def test_a_held_out_photo_comes_back_4x_larger_and_closer_than_bicubic() -> None:
    original = load_photo("astronaut")[64:320, 128:384]  # 256x256 around the face: never seen in training
    low_resolution = downsample(Image.fromarray(original))
    bicubic_psnr = psnr(bicubic(low_resolution), original)
    default = generate(model=DEFAULT_MODEL, image=low_resolution, seed=0, samples=DEFAULT_SAMPLES).predicted_original[0]
    raw = generate(model=DEFAULT_MODEL, image=low_resolution, seed=0, consistent=False).predicted_original[0]
    assert default.shape == raw.shape == original.shape
    assert psnr(raw, original) >= bicubic_psnr + RAW_GAIN_FLOOR
    assert psnr(default, original) >= bicubic_psnr + DEFAULT_GAIN_FLOOR
    assert np.abs(default.astype(int) - original).mean() < 10
