"""Super-resolution's defaults (`pipelines/super_resolution.py`)."""

DEFAULT_MODEL = "photo-sr-4x"
DEFAULT_SCHEDULER = "DDIM"
# One step: the embedded model's x̂0 from pure noise, its estimate of the mean of the plausible photos, which is the
# closest to the original on average (PSNR); more steps commit to one of them, with sharper, invented detail and a
# lower PSNR (docs/models.md: the table of steps). The catalogue gives a hub model its own default.
DEFAULT_STEPS = 1
# The tab's default for the embedded model: the mean of 8 samples, an estimate of the posterior mean closer to the
# original than one sample's x̂0 (docs/models.md: the table). A call of `generate_steps` draws one, as diffusers does.
DEFAULT_SAMPLES = 8
MAX_SAMPLES = 8  # one batch of this many through the UNet: ~8x the time of a single sample
DEFAULT_ETA = 0.0  # DDIM's eta: 0 is deterministic given the seed, 1 as random as DDPM
DEFAULT_NOISE_LEVEL = 20  # Stable Diffusion upscaler: noise added to its input (its own default)
MAX_NOISE_LEVEL = 350  # the upscaler's `max_noise_level`
SCALE = 4
MAX_INPUT_PIXELS = 128 * 128  # larger inputs are shrunk to this: one run of the defaults stays within ~30 s on 2 cores
PIPELINE_CLASSES = ("LDMSuperResolutionPipeline", "ResidualSuperResolutionPipeline", "StableDiffusionUpscalePipeline")
