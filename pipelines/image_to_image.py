"""Image to image (SDEdit, Meng et al. 2022): noise an image part of the way, then let the model finish it, streamed.

    from pipelines.image_to_image import generate_steps, prepare
    image, notices = prepare(drawing, "shapes-ddpm")
    for frame in generate_steps("shapes-ddpm", image, strength=0.6, seed=0):  # frame 0: the input jumped to x_t
        print(frame.step, frame.timestep)

**Strength** s in [0, 1] is how far into the forward process the input goes: of a run of `steps` steps, the last
int(steps × s) run (as in diffusers' image-to-image pipelines), starting at their first timestep t from
x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε, the input x0 noised in one jump (DDPM eq. 4). The first frame shows that jump
(x_t beside x0, "this much of your drawing is left"); the reverse process then streams from there, x_t beside x̂0.
Strength 0 returns the input itself (no model call); strength 1 forgets it: the plain run from pure noise, the same
images as the Unconditional or Text to image tab for the same seed.

Pixel models (the embedded `shapes-ddpm`) run the Unconditional task's written-out loop from the noised input. Latent
text models (the embedded `shapes-sd`, Stable Diffusion 1.x/2.x) run diffusers' `StableDiffusionImg2ImgPipeline`,
made with `from_pipe` from the loaded pipeline, given the input's latents (the mean of the VAE's posterior, so that
the pipeline's noise is the seed's first draw, as in text to image). At strength 1 they run the text-to-image
pipeline itself: diffusers' img2img would still keep sqrt(ᾱ_T) of the input's latents and draw other noise.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator

import numpy as np
import torch
from diffusers import DiffusionPipeline, StableDiffusionImg2ImgPipeline
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from pipelines import forward_process, text_to_image, unconditional
from pipelines.defaults.image_to_image import (
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    DEFAULT_STRENGTH,
    LATENT_CLASSES,
    PIPELINE_CLASSES,
    PIXEL_CLASSES,
)
from pipelines.engine import catalogue, torch_thread
from pipelines.engine.frames import Frame, LatentFrame, latent_channels
from pipelines.engine.images import resize_for_model, to_rgb
from pipelines.engine.loading import is_loaded, load_pipeline, make_scheduler, max_steps, scheduler_config
from pipelines.engine.sampling import first_step, starting_sample

NO_IMAGE = "There is no image: draw on the canvas or upload one."
EMPTY_CANVAS = "The canvas is empty (all black): draw something on it, or upload an image."


def is_pixel_model(model: str) -> bool:
    return catalogue.entry(model, PIPELINE_CLASSES).pipeline_class in PIXEL_CLASSES


def steps_run(steps: int, strength: float) -> int:
    """The denoising steps a run of `steps` at `strength` takes (diffusers' `get_timesteps`): int(steps × strength)."""
    return min(int(steps * strength), steps)


def check_strength(strength: object, steps: int) -> float:
    """`strength` as a float in [0, 1] with at least one step to run unless it is 0, else a ValueError saying why."""
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= 1:
        raise ValueError(f"Strength must be a number from 0 (keep the input) to 1 (start from noise); got {strength}.")
    if strength > 0 and steps_run(steps, strength) < 1:
        raise ValueError(
            f"At strength {strength:g}, {steps} steps run none (steps × strength = {steps * strength:g} < 1): "
            f"raise the steps to at least {math.ceil(1 / strength)} or the strength to at least {1 / steps:g}."
        )
    return float(strength)


def model_size(model: str) -> tuple[int, int]:
    """The size `model` draws (its longer side) and the multiple each side must be."""
    if is_pixel_model(model):
        unet = load_pipeline(model, PIXEL_CLASSES).unet
        size = unet.config.sample_size
        return size if isinstance(size, int) else max(size), 2 ** (len(unet.config.block_out_channels) - 1)
    shared = load_pipeline(model, LATENT_CLASSES)
    size = shared.unet.config.sample_size
    return shared.vae_scale_factor * (size if isinstance(size, int) else max(size)), max(8, shared.vae_scale_factor)


def prepare(image: Image.Image | None, model: str) -> tuple[Image.Image, list[str]]:
    """The input as 8-bit RGB at the model's size, with notices of what was done to it; an empty canvas is refused."""
    if image is None:
        raise ValueError(NO_IMAGE)
    image, notices = to_rgb(image)
    if not np.asarray(image).any():
        raise ValueError(EMPTY_CANVAS)
    image, resize_notices = resize_for_model(image, *model_size(model))
    return image, notices + resize_notices


def start_text(model: str, scheduler: str, steps: int, strength: float) -> str:
    """What `strength` means for a run of `model`: the timestep it starts at, how much of the input is left there,
    and the steps that run. The timestep is told once the model is on this machine (never downloaded for this)."""
    strength = check_strength(strength, steps)
    if strength == 0:
        return "Strength 0: no step runs; the result is the input itself."
    entry = catalogue.entry(model, PIPELINE_CLASSES)
    where = ""
    if entry.is_local or is_loaded(entry.name):
        config = scheduler_config(model, PIPELINE_CLASSES)  # no weights: this runs in the server (ZeroGPU)
        if not 1 <= steps <= max_steps(scheduler, config):
            raise ValueError(
                f"Steps must be between 1 and {max_steps(scheduler, config)} for this model and scheduler."
            )
        noise_scheduler = make_scheduler(scheduler, config)
        noise_scheduler.set_timesteps(steps)
        timestep = int(noise_scheduler.timesteps[first_step(noise_scheduler, steps, strength)])
        alpha_prod = float(noise_scheduler.alphas_cumprod[timestep])
        where = (
            f"starts at t = {timestep} of {config['num_train_timesteps']} (x_t = {alpha_prod**0.5:.2f} × input + "
            f"{(1 - alpha_prod) ** 0.5:.2f} × noise), "
        )
    return f"Strength {strength:g}: {where}runs {steps_run(steps, strength)} of {steps} steps."


def prompt_notices(model: str, prompt: str, negative_prompt: str) -> list[str]:
    """A pixel model takes no prompt: say so if one was given; a text model's prompt is checked as in text to image."""
    if not is_pixel_model(model):  # an empty prompt is fine here: the model then follows the drawing only
        return text_to_image.prompt_notices(model, prompt, LATENT_CLASSES) if prompt.strip() else []
    if prompt.strip() or negative_prompt.strip():
        return [f"{model} is a pixel model without text: it ignores the prompt and follows the drawing only."]
    return []


def kept_input(image: Image.Image, batch_size: int) -> Iterator[Frame]:
    """Strength 0: one frame, the input itself as x_t and as the result; no model call."""
    pixels = np.repeat(np.asarray(image.convert("RGB"))[None], batch_size, axis=0)
    yield Frame(0, 0, 0, 0.0, pixels, pixels)


def generate_steps(
    model: str = DEFAULT_MODEL,
    image: Image.Image | None = None,
    prompt: str = "",
    negative_prompt: str = "",
    strength: float = DEFAULT_STRENGTH,
    guidance_scale: float = text_to_image.DEFAULT_GUIDANCE_SCALE,
    scheduler: str = DEFAULT_SCHEDULER,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 1,
) -> Iterator[Frame | LatentFrame]:
    """Finish `image` (made by `prepare`) from strength `strength`: frame 0 is the jump to x_t, then a frame a step.

    Pixel models take no prompt (and no guidance); image i of the batch is drawn with seed + i.
    """
    strength = check_strength(strength, steps)
    if image is None:
        raise ValueError(NO_IMAGE)
    pixel = is_pixel_model(model)  # refuses a model of another task
    if strength == 0:
        return kept_input(image, batch_size)
    if pixel:
        return pixel_frames(model, [image], strength, scheduler, steps, seed, batch_size)
    settings = (prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed, batch_size)
    return latent_frames(model, image, *settings)


def pixel_frames(
    model: str,
    images: list[Image.Image],
    strength: float,
    scheduler: str,
    steps: int,
    seed: int,
    batch_size: int = 1,
) -> Iterator[Frame]:
    """A pixel model's run, the Unconditional task's loop from the noised inputs: `batch_size` results of each image
    (of one size), result i drawn with seed + i (so image k's are seeds seed + k × batch_size, ...)."""
    grey = load_pipeline(model, PIXEL_CLASSES).unet.config.in_channels == 1
    original = torch.cat([forward_process.to_tensor(image.convert("L") if grey else image) for image in images])
    original = original.repeat_interleave(batch_size, dim=0)
    frames = unconditional.sample_frames(model, scheduler, steps, seed, len(original), None, original, strength)
    return torch_thread.steps(frames)


def latent_frames(
    model: str,
    image: Image.Image,
    prompt: str,
    negative_prompt: str,
    strength: float,
    guidance_scale: float,
    scheduler: str,
    steps: int,
    seed: int,
    batch_size: int,
) -> Iterator[Frame | LatentFrame]:
    """A latent model's run: the jump to x_t (frame 0), then diffusers' pipeline streamed (img2img, or text to image
    at strength 1)."""
    pipeline_class = text_to_image.StableDiffusionPipeline if strength == 1 else StableDiffusionImg2ImgPipeline
    pipeline = text_to_image.request_pipeline(model, scheduler, pipeline_class)
    text_to_image.check_settings(
        steps, max_steps(scheduler, pipeline.scheduler.config), guidance_scale, seed, batch_size
    )
    started = time.perf_counter()
    latents, jump, start = torch_thread.run(noised_latents, pipeline, image, strength, steps, seed, batch_size)
    yield Frame(
        step=0,
        total_steps=len(pipeline.scheduler.timesteps) - start,
        timestep=int(pipeline.scheduler.timesteps[start]),
        elapsed=time.perf_counter() - started,
        noisy_sample=latent_channels(jump),
        predicted_original=np.repeat(np.asarray(image)[None], batch_size, axis=0),
    )
    call = {"image": latents, "strength": strength} if strength < 1 else {}
    yield from text_to_image.stream_prompt(
        pipeline, prompt, negative_prompt, guidance_scale, steps, seed, batch_size, **call
    )


@torch.no_grad()
def noised_latents(
    pipeline: DiffusionPipeline, image: Image.Image, strength: float, steps: int, seed: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """On the torch thread: the input's latents (batch_size copies), x_t as the model sees it at the first step run,
    and that step's index. The noise is the pipeline's own first draw: generators of the same seeds."""
    vae = pipeline.vae
    pixels = pipeline.image_processor.preprocess(image).to(vae.device, vae.dtype)
    latents = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
    latents = latents.expand(batch_size, -1, -1, -1).contiguous()
    generators = text_to_image.seeded_generators(seed, batch_size)
    noise = randn_tensor(latents.shape, generator=generators, device=vae.device, dtype=vae.dtype)
    scheduler = pipeline.scheduler
    scheduler.set_timesteps(steps, device=vae.device)  # the pipeline sets them again; this finds where it starts
    start = first_step(scheduler, steps, strength)
    sample = starting_sample(scheduler, noise, start, latents)
    return latents, scheduler.scale_model_input(sample, scheduler.timesteps[start]), start


def generate(**settings) -> Frame | LatentFrame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the images."""
    return deque(generate_steps(**settings), maxlen=1)[0]
