"""Inpainting's defaults (`pipelines/inpainting.py`)."""

DEFAULT_MODEL = "shapes-sd"
DEFAULT_STRENGTH = 1.0  # 1: the masked part starts from pure noise; lower keeps more of what was there
PIPELINE_CLASSES = ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline")
