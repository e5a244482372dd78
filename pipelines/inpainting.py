"""Inpainting: repaint the masked part of an image from a prompt, streamed step by step.

    from pipelines.inpainting import generate_steps
    for frame in generate_steps("shapes-sd", image, mask, "a green triangle", seed=0): ...

`StableDiffusionInpaintPipeline` takes both kinds of model through the same call. A plain
text-to-image UNet (4 latent channels, the embedded `shapes-sd`) is steered by blending: after
every step the known region is replaced by the original latents noised to the same level, so
the model only ever invents the masked part and fits it to its surroundings (blended latent
diffusion, Avrahami et al. 2023). An inpainting UNet (9 channels, e.g.
`stable-diffusion-v1-5/stable-diffusion-inpainting`) is given the mask and the masked image as
extra input channels instead. Either way, the pixels outside the mask are pasted back from the
original at the end (with a feathered edge), so the VAE's round trip never changes them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
from diffusers import StableDiffusionInpaintPipeline
from PIL import Image, ImageFilter

from pipelines import text_to_image
from pipelines.frames import LatentFrame
from pipelines.images import resize_for_model, to_rgb
from pipelines.loading import load_pipeline, max_steps
from pipelines.streaming import stream_pipeline

DEFAULT_MODEL = "shapes-sd"
DEFAULT_STRENGTH = 1.0  # 1: the masked part starts from pure noise; lower keeps more of what was there
PIPELINE_CLASSES = ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline")
MASK_LEVEL = 0.5  # mask pixels at least this opaque are repainted
ZOOM_MARGIN_DIVISOR = 32  # zoomed inpainting keeps a margin of 1/32 of the image around the mask (1 px at 32 px)


def mask_from_layers(layers: list[Image.Image], size: tuple[int, int]) -> tuple[Image.Image, list[str]]:
    """The union of painted strokes (the layers' alpha: the editor's brush is black) as a binary "L" mask of `size`.

    White means repaint, as in diffusers. A mask of another size than the image is stretched to it.
    """
    layers = [layer for layer in layers if layer is not None]
    if not layers:
        raise ValueError("There is no mask: paint over the part of the image to repaint.")
    notices = []
    if any(layer.size != size for layer in layers):
        notices.append(f"The mask was stretched to the image's size, {size[0]}×{size[1]}.")
    alpha = np.zeros(size[::-1], dtype=np.float32)
    for layer in layers:
        layer_alpha = layer.convert("RGBA").getchannel("A").resize(size, Image.Resampling.BILINEAR)
        alpha = np.maximum(alpha, np.asarray(layer_alpha, dtype=np.float32) / 255)
    mask = alpha >= MASK_LEVEL
    if not mask.any():
        raise ValueError("The mask is empty: paint over the part of the image to repaint.")
    return Image.fromarray(mask.astype(np.uint8) * 255, "L"), notices


def latent_aligned(mask: Image.Image, scale_factor: int) -> Image.Image:
    """Grow the mask to whole latent pixels: the pipeline samples the mask at latent resolution, and a
    latent pixel only partly masked must be repainted too, or the masked part would keep some of the old."""
    small = mask.resize((mask.width // scale_factor, mask.height // scale_factor), Image.Resampling.BOX)
    covered = Image.fromarray((np.asarray(small) > 0).astype(np.uint8) * 255, "L")
    return covered.resize(mask.size, Image.Resampling.NEAREST)


def paste_outside_mask(original: np.ndarray, generated: np.ndarray, mask: Image.Image) -> np.ndarray:
    """Original pixels outside the mask, generated ones inside, blended over a pixel or two along its inner edge."""
    radius = max(0.5, min(mask.size) / 128)
    blurred = np.asarray(mask.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255
    weight = (blurred * (np.asarray(mask) > 0))[..., None]  # 0 outside the mask, so outside stays exact
    return np.round(original * (1 - weight) + generated * weight).astype(np.uint8)


def prepare(
    image: Image.Image | None, layers: list[Image.Image], longest: int, multiple: int
) -> tuple[Image.Image, Image.Image, list[str]]:
    """The image as 8-bit RGB at the model's size and the binary mask at the same size, with notices."""
    if image is None:
        raise ValueError("Upload an image (or pick an example), then paint the part to repaint.")
    image, notices = to_rgb(image)
    mask, mask_notices = mask_from_layers(layers, image.size)
    image, resize_notices = resize_for_model(image, longest, multiple)
    return image, mask.resize(image.size, Image.Resampling.NEAREST), notices + mask_notices + resize_notices


def model_size(model: str) -> tuple[int, int]:
    """The image size `model` draws (its longer side) and the multiple each side must be (latent size and 8)."""
    shared = load_pipeline(model, PIPELINE_CLASSES)
    sample_size = shared.unet.config.sample_size
    return shared.vae_scale_factor * (sample_size if isinstance(sample_size, int) else max(sample_size)), max(
        8, shared.vae_scale_factor
    )


def generate_steps(
    model: str = DEFAULT_MODEL,
    image: Image.Image | None = None,
    mask: Image.Image | None = None,
    prompt: str = "",
    negative_prompt: str = "",
    strength: float = DEFAULT_STRENGTH,
    guidance_scale: float = text_to_image.DEFAULT_GUIDANCE_SCALE,
    scheduler: str = text_to_image.DEFAULT_SCHEDULER,
    steps: int = text_to_image.DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 1,
    zoom: bool = True,
) -> Iterator[LatentFrame]:
    """Repaint the white part of `mask` in `image` (both prepared by `prepare`), yielding a frame per step.

    With `zoom`, only the box around the mask (and a small margin) is repainted, enlarged to the model's
    full size ("only masked" inpainting): the model then draws what the prompt asks for in the middle of
    its canvas, which is the mask. Without it, the whole image is diffused and a small model tends to put
    the object where it usually draws objects, not where the mask is (README: 22 % against 100 %).
    """
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"Strength must be above 0 and at most 1; got {strength}.")
    pipeline = text_to_image.request_pipeline(model, scheduler, StableDiffusionInpaintPipeline, PIPELINE_CLASSES)
    most_steps = max_steps(scheduler, pipeline.scheduler.config)
    text_to_image.check_settings(steps, most_steps, guidance_scale, seed, batch_size)
    if image is None or mask is None or image.size != mask.size:
        raise ValueError("Inpainting needs an image and a mask of the same size (see pipelines.inpainting.prepare).")
    zoomed = {"padding_mask_crop": max(1, max(image.size) // ZOOM_MARGIN_DIVISOR), "output_type": "pil"}
    frames = stream_pipeline(
        pipeline,
        prompt=prompt,
        image=image,
        # Zoomed, the mask is cropped and enlarged with the image; else it must cover whole latent pixels.
        mask_image=mask if zoom else latent_aligned(mask, pipeline.vae_scale_factor),
        height=image.height,
        width=image.width,
        **(zoomed if zoom else {}),
        negative_prompt=negative_prompt or None,
        strength=strength,
        guidance_scale=guidance_scale,
        num_inference_steps=steps,
        num_images_per_prompt=batch_size,
        generator=text_to_image.seeded_generators(seed, batch_size),
    )
    original = np.asarray(image)
    for frame in frames:
        if frame.is_last:
            pasted = np.stack([paste_outside_mask(original, result, mask) for result in frame.final_images])
            frame = replace(frame, final_images=pasted)
        yield frame


def generate(**settings) -> LatentFrame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the images."""
    return deque(generate_steps(**settings), maxlen=1)[0]
