"""Super-resolution: upscale a photo 4x by diffusion, streamed step by step.

    from pipelines.super_resolution import generate, generate_steps, prepare
    image, notices = prepare(Image.open("photo.png"))
    for frame in generate_steps("photo-sr-4x", image, seed=0): ...

Three kinds of model, one call. A `ResidualSuperResolutionPipeline` (`pipelines.models.residual_super_resolution`,
the embedded `photo-sr-4x`) denoises, beside the input, what bicubic upsampling misses; an
`LDMSuperResolutionPipeline` (`CompVis/ldm-super-resolution-4x-openimages`) denoises a latent the size
of the input with the input concatenated to it, then decodes it 4x larger (Rombach et al. 2022, sec.
4.4). Both run the same loop, written out here (`pipelines.engine.sampling`: diffusers runs it with no
callback), for one sample or the mean of several (`samples`, each seeing the input mirrored); only the
way from latents to pixels differs. A `StableDiffusionUpscalePipeline`
(`stabilityai/stable-diffusion-x4-upscaler`) is also guided by a prompt and told how much noise
was added to its input; it reports steps through its legacy `callback`, which `stream_pipeline`
turns into frames.

All three kinds are fully convolutional: the input is padded (mirrored) to the multiple the UNet
needs and the result cropped back, so any size works, up to `MAX_INPUT_PIXELS`. By default every
decoded image is then made consistent with the input (`back_project`): shrunk 4x, it gives the
input back, so that the model only adds detail and never moves what the input shows.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch
from diffusers import DiffusionPipeline, StableDiffusionUpscalePipeline
from PIL import Image

from pipelines import text_to_image
from pipelines.defaults.super_resolution import (
    DEFAULT_ETA,
    DEFAULT_MODEL,
    DEFAULT_NOISE_LEVEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    MAX_INPUT_PIXELS,
    MAX_NOISE_LEVEL,
    MAX_SAMPLES,
    PIPELINE_CLASSES,
    SCALE,
)
from pipelines.engine import accelerated, torch_thread
from pipelines.engine.frames import LATENT_RANGE, LatentFrame, latent_channels, to_uint8_images
from pipelines.engine.images import to_rgb
from pipelines.engine.loading import load_pipeline, make_scheduler, max_steps
from pipelines.engine.sampling import reverse_process
from pipelines.engine.streaming import stream_pipeline
from pipelines.models.residual_super_resolution import (
    ResidualSuperResolutionPipeline,
    is_sample_count,
    mirrored,
    unmirrored_mean,
)

MIN_SIDE = 8  # pixels: smaller inputs hold too little to upscale
# A one-off check on the held-out photos (not kept as a script): 1 iteration gave 26.44 dB, 5 and 20 both 26.58.
BACK_PROJECTION_ITERATIONS = 5


def prepare(image: Image.Image | None, max_pixels: int = MAX_INPUT_PIXELS) -> tuple[Image.Image, list[str]]:
    """The upload as 8-bit RGB of at most `max_pixels` pixels, with notices of what was done to it."""
    if image is None:
        raise ValueError("Upload a photo (or pick an example) to upscale.")
    try:
        image.load()  # Pillow reads lazily: a truncated file fails here, not mid-run
    except OSError as error:
        raise ValueError(f"The image file is truncated or corrupt and cannot be read ({error}).") from error
    if min(image.size) < MIN_SIDE:
        raise ValueError(
            f"The image is {image.width}×{image.height} pixels; super-resolution needs at least {MIN_SIDE}×{MIN_SIDE}."
        )
    image, notices = to_rgb(image)
    if image.width * image.height > max_pixels:
        scale = (max_pixels / (image.width * image.height)) ** 0.5
        size = (max(MIN_SIDE, int(image.width * scale)), max(MIN_SIDE, int(image.height * scale)))
        notices.append(
            f"The image was reduced from {image.width}×{image.height} to {size[0]}×{size[1]} pixels, the most "
            f"this tab upscales ({max_pixels:,} pixels) in about 30 s on a CPU; its result is {SCALE}× that."
        )
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image, notices


def bicubic(image: Image.Image) -> np.ndarray:
    """The classic answer to compare with: bicubic interpolation to 4x the size, as uint8 (height, width, 3)."""
    return np.asarray(image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.BICUBIC))


def back_project(
    images: torch.Tensor, low_resolution: torch.Tensor, iterations: int = BACK_PROJECTION_ITERATIONS
) -> torch.Tensor:
    """`images` corrected until, shrunk to the size of `low_resolution`, they give it back (both in [-1, 1]).

    Iterative back-projection (Irani & Peleg 1991), the data-consistency step of diffusion restoration
    (as in DDNM, Wang et al. 2022): shrink the result the way the input was made (bicubic, antialiased:
    Pillow's filter, which the training data used), upsample what is missing and add it. The correction
    is smooth, so the fine detail the model drew stays; what changes is the coarse image, which the
    input already determines. Milliseconds, even for a 512-pixel result.
    """
    functional = torch.nn.functional
    for _ in range(iterations):
        # x <- x + up(y - down(x)): the error of the shrunk result, brought back to full size
        shrunk = functional.interpolate(images, size=low_resolution.shape[-2:], mode="bicubic", antialias=True)
        images = images + functional.interpolate(low_resolution - shrunk, size=images.shape[-2:], mode="bicubic")
    return images


def padded_tensor(image: Image.Image, multiple: int) -> torch.Tensor:
    """(1, 3, height, width) in [-1, 1], mirrored at the right and bottom up to a multiple of `multiple`."""
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    pad_height, pad_width = -image.height % multiple, -image.width % multiple
    mode = "reflect" if pad_height < image.height and pad_width < image.width else "replicate"
    return torch.nn.functional.pad(pixels, (0, pad_width, 0, pad_height), mode=mode)


def check_settings(
    steps: int, most_steps: int, seed: int, eta: float, guidance_scale: float, noise_level: int, samples: int
) -> None:
    text_to_image.check_settings(steps, most_steps, guidance_scale, seed, 1)
    if not is_sample_count(samples) or samples > MAX_SAMPLES:
        raise ValueError(f"Samples averaged must be between 1 and {MAX_SAMPLES}; got {samples}.")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"Eta must be between 0 (deterministic DDIM) and 1 (as random as DDPM); got {eta}.")
    if not 0 <= noise_level <= MAX_NOISE_LEVEL:
        raise ValueError(f"Noise level must be between 0 and {MAX_NOISE_LEVEL}; got {noise_level}.")


def generate_steps(
    model: str = DEFAULT_MODEL,
    image: Image.Image | None = None,
    scheduler: str = DEFAULT_SCHEDULER,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    eta: float = DEFAULT_ETA,
    prompt: str = "",
    guidance_scale: float = text_to_image.DEFAULT_GUIDANCE_SCALE,
    noise_level: int = DEFAULT_NOISE_LEVEL,
    consistent: bool = True,
    samples: int = 1,
) -> Iterator[LatentFrame]:
    """Upscale `image` (prepared by `prepare`) 4x, yielding a frame per step; the last one holds the result.

    `prompt`, `guidance_scale` and `noise_level` steer Stable Diffusion's upscaler only; `eta` applies to DDIM.
    `consistent` back-projects every decoded image onto the input (`back_project`); off, the model's raw output.
    `samples` > 1 averages that many samples (`mirrored`); Stable Diffusion's upscaler draws one.
    """
    if image is None:
        raise ValueError("Super-resolution needs an image (see pipelines.super_resolution.prepare).")
    shared = load_pipeline(model, PIPELINE_CLASSES)
    most_steps = max_steps(scheduler, shared.scheduler.config)
    check_settings(steps, most_steps, seed, eta, guidance_scale, noise_level, samples)
    if isinstance(shared, StableDiffusionUpscalePipeline):
        if samples != 1:
            raise ValueError(f"Stable Diffusion's upscaler draws one sample: set Samples averaged to 1; got {samples}.")
        return upscaler_steps(
            model, image, scheduler, steps, seed, eta, prompt, guidance_scale, noise_level, consistent
        )
    loop = latent_super_resolution_steps(shared, image, scheduler, steps, seed, eta, consistent, samples)
    return torch_thread.steps(loop)


@torch.no_grad()
def latent_super_resolution_steps(
    pipeline: DiffusionPipeline,
    image: Image.Image,
    scheduler: str,
    steps: int,
    seed: int,
    eta: float,
    consistent: bool,
    samples: int = 1,
) -> Iterator[LatentFrame]:
    """The loop of `LDMSuperResolutionPipeline` and `ResidualSuperResolutionPipeline`, written out: a frame per step.

    `samples` run side by side in one batch, each seeing the photo as `mirrored` turns it; x̂0 and the result
    are their mean (`unmirrored_mean`), and x_t is the first sample's. A frame keeps, of a residual model, the
    mean's latents only (one sample's size: bicubic upsampling is mirror-symmetric, so the mean image is
    bicubic plus the mean residual); of a latent model, every sample's, since its decoder is not linear.
    """
    unet = accelerated.of(pipeline.unet)  # in bfloat16 where the model's entry and the CPU allow it
    functional = torch.nn.functional
    low_resolution = padded_tensor(image, multiple=2 ** (len(unet.config.block_out_channels) - 1)).to(unet.device)
    views = mirrored(low_resolution, samples)
    noise_scheduler = make_scheduler(scheduler, pipeline.scheduler.config)  # per request: schedulers keep state
    noise_scheduler.set_timesteps(steps, device=unet.device)
    generator = torch.Generator().manual_seed(seed)
    latent_shape = (samples, unet.config.in_channels - low_resolution.shape[1], *low_resolution.shape[-2:])
    noise = torch.randn(latent_shape, generator=generator).to(unet.device, unet.dtype)
    decoded_image = output_images(low_resolution[..., : image.height, : image.width], consistent)

    residual = isinstance(pipeline, ResidualSuperResolutionPipeline)

    def kept_latents(latents: torch.Tensor) -> torch.Tensor:
        """What a frame keeps of the samples' latents: of a residual model, their mean, mirrored back."""
        if not residual or samples == 1:
            return latents
        return functional.pixel_unshuffle(unmirrored_mean(functional.pixel_shuffle(latents, SCALE)), SCALE)

    @torch.no_grad()
    def decode_on_torch_thread(latents: torch.Tensor) -> np.ndarray:
        if residual:  # bicubic plus the (mean) residual: no decoder
            return decoded_image(pipeline.images_from_latents(latents, low_resolution))
        return decoded_image(unmirrored_mean(pipeline.vqvae.decode(latents).sample))

    def decode(latents: torch.Tensor) -> np.ndarray:  # frames are looked at from the app's threads
        return torch_thread.run(decode_on_torch_thread, latents)

    def denoise(noisy_latents: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        # The UNet sees x_t beside the low-resolution image: conditioning by concatenation (Rombach et al. 2022).
        # diffusers' pipeline scales the concatenation for the sampler; only x_t is the sampler's, so only it is.
        return unet(torch.cat([noisy_latents, views], dim=1), timestep).sample

    started = time.perf_counter()
    total_steps = len(noise_scheduler.timesteps)
    denoising = reverse_process(denoise, noise_scheduler, noise, generator=generator, eta=eta)
    for index, step in enumerate(denoising):
        is_last = index == total_steps - 1
        yield LatentFrame(
            step=index + 1,
            total_steps=total_steps,
            timestep=step.timestep,
            elapsed=time.perf_counter() - started,
            noisy_sample=noisy_view(pipeline, step.noisy_sample[:1]),
            predicted_latents=kept_latents(step.predicted_original),
            decode=decode,
            final_images=decode(kept_latents(step.sample)) if is_last else None,
        )


def noisy_view(pipeline: DiffusionPipeline, latents: torch.Tensor) -> np.ndarray:
    """x_t to show: a latent's channels as grey tiles; a residual's 48 channels as the 4x4 pixel blocks they are."""
    if isinstance(pipeline, ResidualSuperResolutionPipeline):
        return to_uint8_images(torch.nn.functional.pixel_shuffle(latents, SCALE) / LATENT_RANGE)
    return latent_channels(latents)


def upscaler_steps(
    model: str,
    image: Image.Image,
    scheduler: str,
    steps: int,
    seed: int,
    eta: float,
    prompt: str,
    guidance_scale: float,
    noise_level: int,
    consistent: bool,
) -> Iterator[LatentFrame]:
    """Stable Diffusion's x4 upscaler through its own call; its output is cropped back to 4x the input."""
    pipeline = text_to_image.request_pipeline(model, scheduler, StableDiffusionUpscalePipeline, PIPELINE_CLASSES)
    # its UNet halves the size len - 1 times, and its image processor crops to a multiple of the VAE's factor
    multiple = max(2 ** (len(pipeline.unet.config.block_out_channels) - 1), pipeline.vae_scale_factor)
    low_resolution = torch_thread.run(padded_tensor, image, multiple)
    decoded_image = output_images(low_resolution[..., : image.height, : image.width], consistent)
    vae = pipeline.vae

    @torch.no_grad()
    def decode(latents: torch.Tensor) -> np.ndarray:
        return decoded_image(vae.decode(latents / vae.config.scaling_factor).sample)

    frames = stream_pipeline(
        pipeline,
        decode=decode,
        prompt=prompt,
        image=low_resolution,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        noise_level=noise_level,
        eta=eta,
        generator=torch.Generator().manual_seed(seed),
    )
    for frame in frames:
        if frame.is_last:  # the pipeline's own output, as uint8: through the same cropping and back-projection
            pixels = torch.from_numpy(frame.final_images).permute(0, 3, 1, 2).float() / 127.5 - 1
            frame = replace(frame, final_images=torch_thread.run(decoded_image, pixels))
        yield frame


def output_images(low_resolution: torch.Tensor, consistent: bool) -> Callable[[torch.Tensor], np.ndarray]:
    """What turns a decoded batch (padded, in [-1, 1]) into the result's uint8 images for `low_resolution`."""
    height, width = (side * SCALE for side in low_resolution.shape[-2:])

    def decoded_image(images: torch.Tensor) -> np.ndarray:
        images = images[..., :height, :width]  # the padding is cropped off again
        return to_uint8_images(back_project(images, low_resolution) if consistent else images)

    return decoded_image


def generate(**settings) -> LatentFrame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the result."""
    return deque(generate_steps(**settings), maxlen=1)[0]
