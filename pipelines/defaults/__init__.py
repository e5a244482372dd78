"""Each task's defaults and limits, and the pipeline classes it takes: all the UI needs to build its tabs.

Free of torch, diffusers and transformers (~4 s to import on 2 cores), so a fresh server serves its page before they
load (`tests/test_cold_start.py`); the tasks' own modules (`pipelines/unconditional.py`, ...) import these names too.
"""

from pipelines.defaults import (
    classifier_guidance,
    forward_process,
    image_to_image,
    inpainting,
    schedulers,
    super_resolution,
    text_to_image,
    toy,
    unconditional,
)

__all__ = [
    "classifier_guidance",
    "forward_process",
    "image_to_image",
    "inpainting",
    "schedulers",
    "super_resolution",
    "text_to_image",
    "toy",
    "unconditional",
]
