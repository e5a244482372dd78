"""The committed model assets/models/shapes-ddpm: plain diffusers loads it, and its samples are clean shapes."""

from __future__ import annotations

from pathlib import Path

from diffusers import DDPMPipeline, UNet2DModel

from pipelines.engine.loading import MODELS_DIR
from pipelines.unconditional import DEFAULT_MODEL, DEFAULT_SCHEDULER, DEFAULT_STEPS
from train.evaluate import sample_images, sample_images_plain
from train.judge import score

MODEL_DIR = MODELS_DIR / DEFAULT_MODEL


def test_is_a_plain_diffusers_folder_under_10_mb() -> None:
    pipeline = DDPMPipeline.from_pretrained(MODEL_DIR)
    assert isinstance(pipeline.unet, UNet2DModel) and pipeline.unet.config.sample_size == 32
    assert pipeline.scheduler.config.prediction_type == "v_prediction"
    assert sum(path.stat().st_size for path in Path(MODEL_DIR).rglob("*") if path.is_file()) < 10 * 2**20
    assert list(Path(MODEL_DIR).rglob("*.safetensors"))


def test_samples_with_the_app_defaults_are_clean_and_varied() -> None:
    figures = score(sample_images(DEFAULT_MODEL, DEFAULT_SCHEDULER, DEFAULT_STEPS, count=64, seed=1000, batch_size=8))
    assert figures["clean_fraction"] >= 0.8, figures  # README reports >= 90 % over 256 samples
    assert len(figures["colours"]) >= 6 and len(figures["shapes"]) == 3, figures


def test_plain_ddpm_pipeline_samples_clean_shapes() -> None:
    figures = score(sample_images_plain(str(MODEL_DIR), steps=100, count=16, seed=2000, batch_size=16))
    assert figures["clean_fraction"] >= 0.75, figures
