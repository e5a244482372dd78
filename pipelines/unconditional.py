"""Unconditional image generation: DDPMPipeline's loop, written out so that it yields every step.

    from pipelines.unconditional import generate, generate_steps
    for frame in generate_steps("shapes-ddpm", steps=25, seed=0):  # watch the reverse process
        print(frame.step, frame.timestep)
    images = generate("shapes-ddpm", seed=0).predicted_original  # or just the result

Any diffusers folder or hub repository with a `UNet2DModel` and a scheduler works the
same way: the embedded `shapes-ddpm`, `google/ddpm-cifar10-32`, `google/ddpm-cat-256`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

import torch
from diffusers import UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from pipelines.defaults.unconditional import (
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    MAX_BATCH_SIZE,
    MAX_SEED,
    PIPELINE_CLASSES,
)
from pipelines.engine import accelerated, batching, torch_thread
from pipelines.engine.frames import Frame, to_uint8_images
from pipelines.engine.loading import load_pipeline, make_scheduler, max_steps
from pipelines.engine.sampling import first_step, reverse_process, starting_sample

PREVIEW_SIZE = 128  # frames of larger images are shrunk to this many pixels: cheap to send and to keep for replay


def check_settings(unet: UNet2DModel, steps: int, most_steps: int, seed: int, batch_size: int) -> None:
    if not isinstance(unet, UNet2DModel) or unet.config.in_channels not in (1, 3):
        raise ValueError("This tab needs an unconditional UNet2DModel of 1 (grey) or 3 (RGB) channels.")
    if not 1 <= steps <= most_steps:
        raise ValueError(f"Steps must be between 1 and {most_steps} for this model and scheduler; got {steps}.")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"Batch size must be between 1 and {MAX_BATCH_SIZE}; got {batch_size}.")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be between 0 and {MAX_SEED}; got {seed}.")


def generate_steps(
    model: str = DEFAULT_MODEL,
    scheduler: str = DEFAULT_SCHEDULER,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 1,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> Iterator[Frame]:
    """Sample `batch_size` images, yielding a Frame after every denoising step (each step on the torch thread).

    Image i of the batch is drawn with seed `seed + i`, so any image of a grid can be made again alone. A
    `generator` given explicitly replaces the seeds (to reproduce a plain diffusers pipeline call exactly).
    """
    return torch_thread.steps(sample_frames(model, scheduler, steps, seed, batch_size, generator))


@torch.no_grad()
def sample_frames(
    model: str,
    scheduler: str,
    steps: int,
    seed: int,
    batch_size: int,
    generator: torch.Generator | list[torch.Generator] | None,
    original: torch.Tensor | None = None,
    strength: float = 1.0,
) -> Iterator[Frame]:
    """The reverse process from pure noise; or, given `original` images ((1 or batch_size, channels, height, width) in
    [-1, 1]),
    from that image noised to where `strength` starts (image to image, SDEdit), after a first frame (step 0) that
    shows the jump there."""
    shared = load_pipeline(model, PIPELINE_CLASSES)
    unet = shared.unet
    check_settings(unet, steps, max_steps(scheduler, shared.scheduler.config), seed, batch_size)
    noise_scheduler = make_scheduler(scheduler, shared.scheduler.config)  # per request: schedulers keep state
    noise_scheduler.set_timesteps(steps, device=unet.device)
    start = first_step(noise_scheduler, steps, strength)
    if generator is None:
        generator = [torch.Generator().manual_seed(seed + index) for index in range(batch_size)]
    size = unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else size
    shape = (batch_size, unet.config.in_channels, height, width) if original is None else original.shape
    shape = (batch_size, *shape[1:])

    started = time.perf_counter()
    noise = randn_tensor(shape, generator=generator, device=unet.device, dtype=unet.dtype)
    total_steps = len(noise_scheduler.timesteps) - start
    if original is not None:
        original = original.to(unet.device, unet.dtype).expand(shape)  # one image for all, or one each
        timestep = noise_scheduler.timesteps[start]
        # 0. the jump to x_t the reverse process starts from, as the model sees it at its first step
        jump = noise_scheduler.scale_model_input(starting_sample(noise_scheduler, noise, start, original), timestep)
        yield Frame(
            step=0,
            total_steps=total_steps,
            timestep=int(timestep),
            noisy_sample=to_uint8_images(jump, max_size=PREVIEW_SIZE),
            predicted_original=to_uint8_images(original, max_size=PREVIEW_SIZE),
            elapsed=time.perf_counter() - started,
        )
    # its calls run together with other requests' (pipelines/engine/batching.py), through its graphs if it has some
    batched_unet = batching.batched(accelerated.of(unet))
    denoising = reverse_process(
        lambda x_t, t: batched_unet(x_t, t).sample, noise_scheduler, noise, start, original, generator=generator
    )
    for index, step in enumerate(denoising):
        is_last = index == total_steps - 1  # then the result itself is shown, at full size
        yield Frame(
            step=index + 1,
            total_steps=total_steps,
            timestep=step.timestep,
            noisy_sample=to_uint8_images(step.noisy_sample, max_size=PREVIEW_SIZE),
            predicted_original=to_uint8_images(
                step.sample if is_last else step.predicted_original, max_size=None if is_last else PREVIEW_SIZE
            ),
            elapsed=time.perf_counter() - started,
        )


def generate(**settings) -> Frame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the images."""
    return deque(generate_steps(**settings), maxlen=1)[0]  # keeps only the last frame in memory
