"""Unconditional generation's defaults (`pipelines/unconditional.py`)."""

DEFAULT_MODEL = "shapes-ddpm"
# The embedded model samples cleanest with a stochastic sampler (README: train/evaluate.py --compare).
DEFAULT_SCHEDULER = "DPM-Solver++ SDE"
DEFAULT_STEPS = 50
MAX_BATCH_SIZE = 8
MAX_SEED = 2**32 - 1
PIPELINE_CLASSES = ("DDPMPipeline", "DDIMPipeline")  # repositories of an unconditional UNet2DModel and a scheduler
