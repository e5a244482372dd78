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

A soft mask (`soft=True`, Differential Diffusion, Levin & Fried 2023, "Giving Each Pixel Its Strength")
says with its grey level how much each pixel may change: 0 keeps it, 1 repaints it, 0.5 changes it as
image-to-image at strength 0.5 would. Each pixel follows the original's noised latents until the step
at which the schedule's remaining fraction falls to its level, and is denoised freely from then on.
The pipeline's own blending does it: after every step `callback_on_step_end` hands it the mask of the
pixels free at the next step. `strength` caps the levels (the run starts where a pixel at `strength`
would be set free, so a pixel changes as much as min(level, strength)). Inpainting UNets (9 channels)
are trained on binary masks, which they see as input: they are refused in soft mode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from diffusers import DiffusionPipeline, StableDiffusionInpaintPipeline
from PIL import Image, ImageFilter

from pipelines import text_to_image
from pipelines.defaults.inpainting import DEFAULT_MODEL, DEFAULT_STRENGTH, PIPELINE_CLASSES
from pipelines.engine.frames import Frame, LatentFrame
from pipelines.engine.images import resize_for_model, to_rgb
from pipelines.engine.loading import load_pipeline, max_steps
from pipelines.engine.streaming import stream_pipeline

MASK_LEVEL = 0.5  # mask pixels at least this opaque are repainted
ZOOM_MARGIN_DIVISOR = 32  # zoomed inpainting keeps a margin of 1/32 of the image around the mask (1 px at 32 px)
SOFT_UNET_CHANNELS = 4  # soft masks need a UNet that sees only the latents (the pipeline then blends)
EMPTY_MASK = "The mask is empty: paint over the part of the image to repaint."


@dataclass(frozen=True)
class InpaintedFrame(Frame):
    """The last frame of an inpainting run: its results (pasted into the original) and how much each pixel changed."""

    change_maps: np.ndarray  # (batch, height, width, 3) uint8 grey, |result - original|


def mask_from_layers(
    layers: list[Image.Image], size: tuple[int, int], soft: bool = False
) -> tuple[Image.Image, list[str]]:
    """The union of painted strokes (the layers' alpha, whatever the brush's colour) as an "L" mask of `size`.

    White means repaint, as in diffusers. Binary unless `soft`, where the grey level is the strokes' opacity
    (the brush strength; where strokes overlap, the strongest). A mask of another size than the image is
    stretched to it.
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
    mask = np.round(alpha * 255).astype(np.uint8) if soft else (alpha >= MASK_LEVEL).astype(np.uint8) * 255
    if not mask.any():
        raise ValueError(EMPTY_MASK)
    return Image.fromarray(mask, "L"), notices


def latent_aligned(mask: Image.Image, scale_factor: int) -> Image.Image:
    """Grow the mask to whole latent pixels: the pipeline samples the mask at latent resolution, and a
    latent pixel only partly masked must be repainted too, or the masked part would keep some of the old."""
    small = mask.resize((mask.width // scale_factor, mask.height // scale_factor), Image.Resampling.BOX)
    covered = Image.fromarray((np.asarray(small) > 0).astype(np.uint8) * 255, "L")
    return covered.resize(mask.size, Image.Resampling.NEAREST)


def paste_outside_mask(original: np.ndarray, generated: np.ndarray, mask: Image.Image) -> np.ndarray:
    """Original pixels where the mask is 0, generated ones inside, blended over a pixel or two along its inner edge.

    A soft mask counts as its support, every pixel above level 0: how much those change is the diffusion's
    doing (`soft_steps`); blending by the level as well would show ghosts of the old picture through the new.
    """
    support = Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255, "L")
    radius = max(0.5, min(mask.size) / 128)
    blurred = np.asarray(support.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255
    weight = (blurred * (np.asarray(support) > 0))[..., None]  # 0 outside the mask, so outside stays exact
    return np.round(original * (1 - weight) + generated * weight).astype(np.uint8)


def change_map(original: np.ndarray, results: np.ndarray) -> np.ndarray:
    """Per image and pixel, |result - original| (the largest of the three channels) as grey: black is unchanged."""
    difference = np.abs(results.astype(np.int16) - original.astype(np.int16)).max(axis=-1)
    return np.repeat(difference.astype(np.uint8)[..., None], 3, axis=-1)


def latent_levels(mask: Image.Image, scale_factor: int) -> np.ndarray:
    """A soft mask's levels at latent resolution, (h, w) in [0, 1]: each latent pixel may change as much as the
    most changing pixel it covers (so that pixels at level 0 are the only ones a latent pixel keeps)."""
    levels = np.asarray(mask, dtype=np.float32) / 255
    height, width = levels.shape[0] // scale_factor, levels.shape[1] // scale_factor
    return levels.reshape(height, scale_factor, width, scale_factor).max(axis=(1, 3))


def free_pixels(levels: np.ndarray, step: int, total_steps: int) -> np.ndarray:
    """Differential Diffusion's change map thresholded for `step` of `total_steps` (Levin & Fried 2023, Alg. 1):
    1 where a pixel is denoised freely at that step, 0 where it is reset to the original noised to its t.

    A pixel of level m is free once step >= (1 - m) * total_steps, i.e. for the last m * total_steps steps
    (image-to-image at strength m). Level 0 never is, not even after the last step (step = total_steps)."""
    return ((levels > 0) & (levels >= 1 - step / total_steps)).astype(np.float32)


def prepare(
    image: Image.Image | None, layers: list[Image.Image], longest: int, multiple: int, soft: bool = False
) -> tuple[Image.Image, Image.Image, list[str]]:
    """The image as 8-bit RGB at the model's size and the mask (binary, or grey if `soft`) at the same size,
    with notices."""
    if image is None:
        raise ValueError("Upload an image (or pick an example), then paint the part to repaint.")
    image, notices = to_rgb(image)
    mask, mask_notices = mask_from_layers(layers, image.size, soft)
    image, resize_notices = resize_for_model(image, longest, multiple)
    resample = Image.Resampling.BILINEAR if soft else Image.Resampling.NEAREST
    return image, mask.resize(image.size, resample), notices + mask_notices + resize_notices


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
    soft: bool = False,
) -> Iterator[LatentFrame | InpaintedFrame]:
    """Repaint the white part of `mask` in `image` (both prepared by `prepare`), yielding a frame per step.

    With `zoom`, only the box around the mask (and a small margin) is repainted, enlarged to the model's
    full size ("only masked" inpainting): the model then draws what the prompt asks for in the middle of
    its canvas, which is the mask. Without it, the whole image is diffused and a small model tends to put
    the object where it usually draws objects, not where the mask is (README: 22 % against 100 %).
    With `soft`, the mask's grey levels say how much each pixel may change (`soft_steps`). The last frame
    is an `InpaintedFrame`, with each result's change map.
    """
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"Strength must be above 0 and at most 1; got {strength}.")
    pipeline = text_to_image.request_pipeline(model, scheduler, StableDiffusionInpaintPipeline, PIPELINE_CLASSES)
    most_steps = max_steps(scheduler, pipeline.scheduler.config)
    text_to_image.check_settings(steps, most_steps, guidance_scale, seed, batch_size)
    if image is None or mask is None or image.size != mask.size:
        raise ValueError("Inpainting needs an image and a mask of the same size (see pipelines.inpainting.prepare).")
    settings = {
        "prompt": prompt,
        "negative_prompt": negative_prompt or None,
        "strength": strength,
        "guidance_scale": guidance_scale,
        "num_inference_steps": steps,
        "num_images_per_prompt": batch_size,
        "generator": text_to_image.seeded_generators(seed, batch_size),
    }
    margin = max(1, max(image.size) // ZOOM_MARGIN_DIVISOR)
    if soft:
        frames = soft_steps(pipeline, image, mask, margin if zoom else None, **settings)
    else:
        frames = stream_pipeline(
            pipeline,
            image=image,
            # Zoomed, the mask is cropped and enlarged with the image; else it must cover whole latent pixels.
            mask_image=mask if zoom else latent_aligned(mask, pipeline.vae_scale_factor),
            height=image.height,
            width=image.width,
            **({"padding_mask_crop": margin, "output_type": "pil"} if zoom else {}),
            **settings,
        )
    original = np.asarray(image)
    for frame in frames:
        if frame.is_last:
            pasted = np.stack([paste_outside_mask(original, result, mask) for result in frame.final_images])
            changes = change_map(original, pasted)
            frame = InpaintedFrame(
                frame.step, frame.total_steps, frame.timestep, frame.elapsed, frame.noisy_sample, pasted, changes
            )
        yield frame


def soft_steps(
    pipeline: DiffusionPipeline, image: Image.Image, mask: Image.Image, zoom_margin: int | None, **settings: object
) -> Iterator[LatentFrame]:
    """Soft-mask inpainting, Differential Diffusion (Levin & Fried 2023), through the pipeline's own loop: a frame
    per step; the last one's images are the image with the results (zoomed ones shrunk back) in their box.

    The pipeline blends after each step: latents = mask * latents + (1 - mask) * original noised to the next t.
    `callback_on_step_end` hands it a new `mask` for the next step, the pixels `free_pixels` at that step.
    """
    if pipeline.unet.config.in_channels != SOFT_UNET_CHANNELS:
        raise ValueError(
            f"Soft masks need a text-to-image UNet ({SOFT_UNET_CHANNELS} input channels), which the pipeline "
            f"steers by blending; this model's UNet takes {pipeline.unet.config.in_channels} (an inpainting UNet, "
            "trained on binary masks it sees as input). Turn the soft mask off, or pick shapes-sd or "
            "stable-diffusion-v1-5."
        )
    if not np.asarray(mask).any():
        raise ValueError(EMPTY_MASK)
    box = (0, 0, *image.size)
    if zoom_margin is not None:  # the same box as binary zoomed inpainting: around every pixel above level 0
        support = Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255, "L")
        box = pipeline.mask_processor.get_crop_region(support, image.width, image.height, pad=zoom_margin)
    canvas = image.crop(box).resize(image.size, Image.Resampling.LANCZOS)  # no resampling when the box is all
    levels = latent_levels(mask.crop(box).resize(image.size, Image.Resampling.BILINEAR), pipeline.vae_scale_factor)

    # Where this run starts in the whole schedule: strength < 1 skips its first steps (the pipeline's get_timesteps).
    steps, strength = settings["num_inference_steps"], settings["strength"]
    pipeline.scheduler.set_timesteps(steps)  # the pipeline sets them again; this only counts them
    total_steps = len(pipeline.scheduler.timesteps)
    first_step = total_steps - len(pipeline.get_timesteps(steps, strength, "cpu")[0])

    def to_pixels(free: np.ndarray) -> Image.Image:
        pixels = free.repeat(pipeline.vae_scale_factor, 0).repeat(pipeline.vae_scale_factor, 1)
        return Image.fromarray((pixels * 255).astype(np.uint8), "L")

    def next_mask(pipe: DiffusionPipeline, index: int, tensors: dict) -> dict:  # on the torch thread
        # 1. Step `index` is done and blended; the next one blends towards step first + index + 2's input.
        free = torch.from_numpy(free_pixels(levels, min(first_step + index + 2, total_steps), total_steps))
        return {"mask": free.to(tensors["mask"]).expand_as(tensors["mask"])}  # batch (x2 with guidance)

    frames = stream_pipeline(
        pipeline,
        step_end=next_mask,
        callback_on_step_end_tensor_inputs=["mask"],
        image=canvas,
        # 0. The first step blends before any callback: its mask comes with the call.
        mask_image=to_pixels(free_pixels(levels, first_step + 1, total_steps)),
        height=image.height,
        width=image.width,
        **settings,
    )
    for frame in frames:
        if frame.is_last:
            size = (box[2] - box[0], box[3] - box[1])
            pasted = []
            for result in frame.final_images:
                whole = image.copy()
                whole.paste(Image.fromarray(result).resize(size, Image.Resampling.LANCZOS), box[:2])
                pasted.append(np.asarray(whole))
            frame = replace(frame, final_images=np.stack(pasted))
        yield frame


def generate(**settings) -> InpaintedFrame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the images."""
    return deque(generate_steps(**settings), maxlen=1)[0]
