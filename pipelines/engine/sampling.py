"""The reverse process written out once, for the tasks whose diffusers pipeline cannot stream.

`DDPMPipeline` and `LDMSuperResolutionPipeline` run their denoising loop with no callback,
so the unconditional and super-resolution tasks run the same loop here, as a generator that
yields every step (as improved-diffusion's `p_sample_loop_progressive` does); only what the
model sees beside x_t differs, which is the caller's `denoise`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin


@dataclass(frozen=True)
class DenoisingStep:
    timestep: int  # t of the training schedule
    noisy_sample: torch.Tensor  # x_t in DDPM's own scale, as the model saw it
    predicted_original: torch.Tensor  # x̂0, the estimate of the clean sample at this step
    sample: torch.Tensor  # x_t-1, where the step went; after the last step, the result


def predict_original(
    noisy_sample: torch.Tensor, model_output: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """x̂0 from x_t and the model's output, for schedulers that do not report it."""
    if prediction_type == "epsilon":  # x_t = sqrt(a) x0 + sqrt(1-a) eps, solved for x0 (DDPM eq. 15)
        return (noisy_sample - (1 - alpha_prod).sqrt() * model_output) / alpha_prod.sqrt()
    if prediction_type == "v_prediction":  # x0 = sqrt(a) x_t - sqrt(1-a) v (Salimans & Ho 2022)
        return alpha_prod.sqrt() * noisy_sample - (1 - alpha_prod).sqrt() * model_output
    return model_output  # "sample": the model predicts x0 itself


def estimated_original(
    scheduler: SchedulerMixin, output: object, noisy_sample: torch.Tensor, model_output: torch.Tensor, timestep
) -> torch.Tensor:
    """The scheduler's own `pred_original_sample` where its step reports one, else x̂0 from the model output."""
    predicted = getattr(output, "pred_original_sample", None)
    if predicted is not None:
        return predicted
    alpha_prod = scheduler.alphas_cumprod[int(round(float(timestep)))].to(noisy_sample.device, noisy_sample.dtype)
    return predict_original(noisy_sample, model_output, alpha_prod, scheduler.config.prediction_type)


def first_step(scheduler: SchedulerMixin, steps: int, strength: float) -> int:
    """Where a run at `strength` starts in `scheduler`'s timesteps (set for `steps` by the caller), as diffusers'
    image-to-image pipelines start (their `get_timesteps`): the last int(steps × strength) steps run. A run that
    skips some sets the scheduler's begin index there, for the samplers that count their steps."""
    skipped = (steps - min(int(steps * strength), steps)) * scheduler.order
    if skipped and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(skipped)
    return skipped


def starting_sample(
    scheduler: SchedulerMixin, noise: torch.Tensor, start: int = 0, original: torch.Tensor | None = None
) -> torch.Tensor:
    """What the reverse process starts from: pure noise, scaled as the sampler expects (sigma_max for Euler-type
    samplers); or, from step `start` > 0 (image to image, SDEdit), `original` noised to the first timestep run in
    one jump, the forward process in closed form: x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε (DDPM eq. 4)."""
    if original is None or start == 0:
        return noise * scheduler.init_noise_sigma
    return scheduler.add_noise(original, noise, scheduler.timesteps[start : start + 1])


def reverse_process(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler: SchedulerMixin,
    noise: torch.Tensor,
    start: int = 0,
    original: torch.Tensor | None = None,
    **step_kwargs: object,
) -> Iterator[DenoisingStep]:
    """Denoise `noise` (x_T ~ N(0, I)) along `scheduler`'s timesteps, set by the caller; yield every step.

    From step `start` (`first_step`) with an `original` image, the run is image to image (`starting_sample`).
    `denoise(x_t, t)` is the model's output (noise, v or x0, as the scheduler's config says).
    `step_kwargs` (`generator`, `eta`) go to the schedulers whose `step` takes them.
    """
    accepted = inspect.signature(scheduler.step).parameters
    step_kwargs = {name: value for name, value in step_kwargs.items() if name in accepted}
    # 1. start from pure noise, or from the original noised to the first timestep run
    sample = starting_sample(scheduler, noise, start, original)
    for timestep in scheduler.timesteps[start:]:
        # 2. predict the noise (or v, or x0) in x_t; the scaled input is x_t in DDPM's own parametrisation
        noisy_sample = scheduler.scale_model_input(sample, timestep)
        model_output = denoise(noisy_sample, timestep)
        # 3. compute the previous sample: x_t -> x_t-1 (DDPM eq. 11, or the sampler's own update)
        output = scheduler.step(model_output, timestep, sample, **step_kwargs)
        sample = output.prev_sample
        # 4. the model's current estimate of the clean sample x̂0
        predicted_original = estimated_original(scheduler, output, noisy_sample, model_output, timestep)
        yield DenoisingStep(int(round(float(timestep))), noisy_sample, predicted_original, sample)


def log_signal_to_noise(alphas_cumprod: np.ndarray) -> np.ndarray:
    """log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) (Kingma et al. 2021); −inf where ᾱ_t = 0 (a zero-SNR schedule)."""
    with np.errstate(divide="ignore"):
        return np.log(alphas_cumprod) - np.log1p(-alphas_cumprod)
