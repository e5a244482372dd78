"""Streaming a diffusers pipeline call: a `LatentFrame` at every denoising step.

Stable Diffusion-type pipelines own their denoising loop and report each step through
`callback_on_step_end`. `stream_pipeline` runs the call on the torch thread and turns those
callbacks into a generator, so that a latent-diffusion task has the same shape as the
unconditional one: `for frame in generate_steps(...)`. Closing the generator (the user
pressed Stop, or went away) sets the pipeline's interrupt flag: the run ends after its
current step. Each request passes a pipeline of its own (`from_pipe`), so that flag and the
scheduler's state are never shared.
"""

from __future__ import annotations

import functools
import inspect
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from diffusers import AutoencoderKL, AutoencoderTiny, DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from pipelines.engine import torch_thread
from pipelines.engine.frames import LatentFrame, latent_channels, to_uint8_images
from pipelines.engine.sampling import estimated_original

FULL_DECODE_PARAMETERS = 20_000_000  # VAEs smaller than this decode every previewed x̂0 exactly (the tiny ones)
PREVIEW_TAESD = "madebyollin/taesd"  # tiny SD-family decoder, used for previews when it is on this machine
# Latent -> RGB of Stable Diffusion 1.x/2.x latents (scaled), fitted by the community (e.g. ComfyUI's previews):
# a preview with no decoder at all, when neither the VAE is small nor TAESD is at hand.
SD_LATENT_RGB = torch.tensor(
    [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
)


@dataclass
class StepRecord:
    """What the scheduler saw and made at its latest step (one per request)."""

    noisy_sample: torch.Tensor | None = None  # x_t
    predicted_original: torch.Tensor | None = None  # x̂0


def record_steps(scheduler: SchedulerMixin) -> StepRecord:
    """Make this scheduler instance record x_t and x̂0 at each step: the pipeline's callback sees only x_t-1.

    x̂0 is the scheduler's own `pred_original_sample` where it reports one, else it is computed from x_t
    and the (guided) model output.
    """
    record = StepRecord()
    scheduler_step = scheduler.step

    @functools.wraps(scheduler_step)  # keeps its signature: pipelines pass `generator` and `eta` only if it asks
    def step_and_record(model_output, timestep, sample, *args, return_dict: bool = True, **kwargs):
        # x_t in DDPM's own scale: Euler-type samplers keep sqrt(1 + sigma^2) x_t, the others x_t itself
        noisy_sample = scheduler.scale_model_input(sample, timestep)
        output = scheduler_step(model_output, timestep, sample, *args, return_dict=True, **kwargs)
        predicted = estimated_original(scheduler, output, noisy_sample, model_output, timestep)
        record.noisy_sample, record.predicted_original = noisy_sample, predicted
        return output if return_dict else output.to_tuple()

    scheduler.step = step_and_record  # on this request's own scheduler only
    return record


def preview_decoder(vae: AutoencoderKL) -> Callable[[torch.Tensor], np.ndarray]:
    """Scaled latents -> uint8 images, as cheaply as still looks right.

    A small VAE (the embedded models) decodes exactly. For a big one (Stable Diffusion's, 84 M
    parameters), TAESD if it is already on this machine (never downloaded mid-run), else a
    linear map of the four latent channels to RGB at latent resolution.
    """
    if sum(param.numel() for param in vae.parameters()) < FULL_DECODE_PARAMETERS:
        return lambda latents: to_uint8_images(vae.decode(latents / vae.config.scaling_factor).sample)
    try:
        taesd = AutoencoderTiny.from_pretrained(PREVIEW_TAESD, local_files_only=True).to(vae.device, vae.dtype)
        return lambda latents: to_uint8_images(taesd.decode(latents).sample)
    except (OSError, ValueError):
        return lambda latents: to_uint8_images(
            torch.einsum("bchw,cr->brhw", latents.float(), SD_LATENT_RGB.to(latents.device))
        )


def to_uint8_output(images: np.ndarray | list) -> np.ndarray:
    """A pipeline's output images, float arrays in [0, 1] or PIL images, as (batch, height, width, 3) uint8."""
    if isinstance(images, np.ndarray):
        return (images * 255).round().clip(0, 255).astype(np.uint8)
    return np.stack([np.asarray(image.convert("RGB")) for image in images])


class Interrupted(Exception):
    """Raised in a legacy `callback` to end a pipeline run that has no interrupt flag."""


def stream_pipeline(
    pipeline: DiffusionPipeline,
    decode: Callable[[torch.Tensor], np.ndarray] | None = None,
    step_end: Callable[[DiffusionPipeline, int, dict], dict] | None = None,
    **call: object,
) -> Iterator[LatentFrame]:
    """Run `pipeline(**call)` on the torch thread, yielding a LatentFrame after every step.

    `decode` draws the previewed x̂0 latents (default: `preview_decoder` of the pipeline's VAE). The
    last frame carries the pipeline's own output images (`final_images`). Errors raised by the
    pipeline (bad sizes, say) are raised here, in the caller's thread. Pipelines with
    `callback_on_step_end` report through it; older ones (the SD upscaler) through `callback`.
    `step_end(pipeline, index, tensors)` may change the tensors a pipeline hands its callback (those named
    in `callback_on_step_end_tensor_inputs`, e.g. the inpainting mask) before the next step.
    """
    record = record_steps(pipeline.scheduler)
    preview = torch.no_grad()(decode or preview_decoder(pipeline.vae))

    def decode(latents: torch.Tensor) -> np.ndarray:  # asked for by the consumer: run between two steps
        return torch_thread.run(preview, latents)

    reports: queue.Queue = queue.Queue()  # frames, then the pipeline's output or its exception
    closed = threading.Event()
    started = time.perf_counter()

    def put_frame(index: int, total_steps: int, timestep: torch.Tensor) -> None:
        reports.put(
            LatentFrame(
                step=index + 1,
                total_steps=total_steps,
                timestep=int(round(float(timestep))),
                elapsed=time.perf_counter() - started,
                noisy_sample=latent_channels(record.noisy_sample),
                predicted_latents=record.predicted_original,
                decode=decode,
            )
        )

    def on_step_end(pipe: DiffusionPipeline, index: int, timestep: torch.Tensor, tensors: dict) -> dict:
        put_frame(index, pipe.num_timesteps, timestep)
        if closed.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps
        torch_thread.serve_pending()  # decodes of frames being shown, other users' steps
        return step_end(pipe, index, tensors) if step_end else tensors  # the pipeline reads them back

    def on_step(index: int, timestep: torch.Tensor, latents: torch.Tensor) -> None:
        put_frame(index, len(pipeline.scheduler.timesteps), timestep)
        if closed.is_set():
            raise Interrupted  # no flag to set: leave the pipeline's loop
        torch_thread.serve_pending()

    if "callback_on_step_end" in inspect.signature(pipeline.__call__).parameters:
        callbacks = {"callback_on_step_end": on_step_end}
    else:
        callbacks = {"callback": on_step, "callback_steps": 1}

    def run() -> None:
        try:
            with torch.no_grad():
                reports.put(pipeline(**{"output_type": "np", **call}, **callbacks))
        except Interrupted:  # the consumer is gone: nobody reads the queue any more
            pass
        except Exception as error:  # handed to the consumer, which raises it
            reports.put(error)

    job = torch_thread.start(run)
    try:
        last_frame = None
        while True:
            report = reports.get()
            if isinstance(report, Exception):
                raise report
            if isinstance(report, LatentFrame):
                if report.is_last:  # held back until the pipeline's decoded output is there
                    last_frame = report
                else:
                    yield report
                continue
            if last_frame is not None:
                yield replace(last_frame, final_images=to_uint8_output(report.images))
            return
    finally:
        closed.set()
        if not torch_thread.on_event_loop():  # the web server's loop does not wait (torch_thread.on_event_loop)
            job.result()  # the run ends after its current step
