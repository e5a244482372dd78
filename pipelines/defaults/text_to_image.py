"""Text to image's defaults (`pipelines/text_to_image.py`)."""

DEFAULT_MODEL = "shapes-sd"
DEFAULT_SCHEDULER = "DPM-Solver++"
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE_SCALE = 5.0
MAX_GUIDANCE_SCALE = 20.0
MAX_BATCH_SIZE = 8
MAX_SEED = 2**32 - 1
PIPELINE_CLASSES = ("StableDiffusionPipeline",)
