"""Image to image's defaults (`pipelines/image_to_image.py`)."""

from pipelines.defaults import text_to_image, unconditional

DEFAULT_MODEL = "shapes-ddpm"
DEFAULT_STRENGTH = 0.2  # the most rough drawings kept and clean: docs/image-to-image.md
DEFAULT_SCHEDULER = unconditional.DEFAULT_SCHEDULER
DEFAULT_STEPS = unconditional.DEFAULT_STEPS
PIXEL_CLASSES = unconditional.PIPELINE_CLASSES
LATENT_CLASSES = text_to_image.PIPELINE_CLASSES
PIPELINE_CLASSES = PIXEL_CLASSES + LATENT_CLASSES
