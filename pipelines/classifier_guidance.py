"""Classifier guidance (Dhariwal & Nichol 2021): a noise-aware classifier steers the unconditional `shapes-ddpm`.

    from pipelines.classifier_guidance import generate, generate_steps
    for frame in generate_steps("red", guidance_scale=10, seed=0, batch_size=4):
        print(frame.step, frame.probability_text())        # p(red | x_t), with and without guidance
    frame = generate(target="circle", guidance_scale=10)  # frame.predicted_original: guided, frame.unguided: not

At every step the gradient of the classifier's log p(y | x_t) (`pipelines/models/noisy_classifier.py`, trained by
`python -m train.train_classifier`), times the guidance scale s and the step's variance Σ, shifts the step's
mean (the paper's Algorithm 1): the sample drifts towards images the classifier takes for the target. The same
seeds run beside it without guidance (in the same batch), so that each image can be compared with what it
would have been.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from pipelines import unconditional
from pipelines.defaults.classifier_guidance import (
    DEFAULT_CLASSIFIER,
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    MAX_GUIDANCE_SCALE,
)
from pipelines.engine import batching, torch_thread
from pipelines.engine.frames import GAP_GREY, Frame, to_uint8_images
from pipelines.engine.loading import load_pipeline, make_scheduler, max_steps
from pipelines.engine.sampling import reverse_process
from pipelines.models.noisy_classifier import NoisyClassifier, load_classifier, read_config


@dataclass(frozen=True)
class GuidedFrame(Frame):
    """A step of the guided images (x_t, x̂0), with the same seeds' unguided x̂0 and the classifier's belief."""

    target: str
    unguided_original: np.ndarray  # x̂0 (after the last step, the result) of the same seeds without guidance
    target_probability: np.ndarray  # (batch,) p(target | x_t) of each guided image, as the classifier sees it
    unguided_probability: np.ndarray  # (batch,) the same for the unguided images

    def probability_text(self) -> str:
        return (
            f"p({self.target} | x_t) = {self.target_probability.mean():.0%} guided, "
            f"{self.unguided_probability.mean():.0%} without guidance"
        )


def check_target(target: object, guidance_scale: object, classifier: str | Path = DEFAULT_CLASSIFIER) -> None:
    config = read_config(classifier)
    if target not in config.labels:
        raise ValueError(
            f"Unknown target {str(target)[:40]!r}: choose a colour ({', '.join(config.colours)}) "
            f"or a shape ({', '.join(config.shapes)})."
        )
    number = isinstance(guidance_scale, int | float) and not isinstance(guidance_scale, bool)
    if not number or not math.isfinite(guidance_scale) or not 0 <= guidance_scale <= MAX_GUIDANCE_SCALE:
        raise ValueError(f"Guidance scale must be a number from 0 to {MAX_GUIDANCE_SCALE:g}; got {guidance_scale!r}.")


def classifier_gradient(
    classifier: NoisyClassifier, noisy_sample: torch.Tensor, timestep: torch.Tensor, label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """∇_x log p(label | x_t) for each image of the batch, and p(label | x_t) itself."""
    with torch.enable_grad():
        noisy = noisy_sample.detach().float().requires_grad_(True)
        log_probability = torch.nn.functional.logsigmoid(classifier.label_logits(noisy, timestep)[:, label])
        # each image's log p depends on that image only: the gradient of the sum is each one's own gradient
        (gradient,) = torch.autograd.grad(log_probability.sum(), noisy)
    return gradient.to(noisy_sample.dtype), log_probability.detach().exp()


def guided_output(
    model_output: torch.Tensor,
    gradient: torch.Tensor,
    guidance_scale: torch.Tensor,
    alpha_prod: torch.Tensor,
    alpha_prod_previous: torch.Tensor,
    prediction_type: str,
) -> torch.Tensor:
    """The model's output at t changed so that the step to t' (ᾱ_t, ᾱ_t') moves its mean by s·Σ·∇ log p(y | x_t).

    That is Dhariwal & Nichol 2021, Algorithm 1: x_t' ~ N(μ + sΣ∇ log p(y | x_t), Σ), Σ the step's posterior
    variance (1−ᾱ_t')/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_t'). The step's mean weighs x̂0 by √ᾱ_t'·(1−ᾱ_t/ᾱ_t')/(1−ᾱ_t) (DDPM
    eq. 7, and the first-order step of SDE-DPM-Solver++), so x̂0 moves by s·(1−ᾱ_t')/√ᾱ_t'·∇ log p(y | x_t);
    the output follows, in the model's parametrisation: ε̂ = (x_t − √ᾱ_t x̂0)/√(1−ᾱ_t), or
    v = (√ᾱ_t x_t − x̂0)/√(1−ᾱ_t) (Salimans & Ho 2022). With many steps (ᾱ_t' → ᾱ_t) this becomes
    ε̂ − s√(1−ᾱ_t)∇ log p(y | x_t), the paper's eq. 14; with few, eq. 14 would move x̂0 by s(1−ᾱ_t)/√ᾱ_t·∇:
    ~20,000·s·∇ at the first of 50 steps on the cosine schedule, which scrambles the layout. The last step
    (t' = 0, Σ = 0) is not changed; with s = 0 the output is returned bit for bit.
    """
    scale = guidance_scale.view(-1, *([1] * (model_output.dim() - 1))).to(model_output)
    original_shift = scale * (1 - alpha_prod_previous) / alpha_prod_previous.sqrt() * gradient
    if prediction_type == "epsilon":
        return model_output - (alpha_prod / (1 - alpha_prod)).sqrt() * original_shift
    if prediction_type == "v_prediction":
        return model_output - original_shift / (1 - alpha_prod).sqrt()
    raise ValueError(
        f"Classifier guidance needs an epsilon or v-prediction model; this one predicts {prediction_type}."
    )


def previous_alphas(scheduler: SchedulerMixin, alphas_cumprod: torch.Tensor) -> dict[int, torch.Tensor]:
    """ᾱ_t' of the timestep t' each of the scheduler's timesteps t steps to (1 after the last: x_0 itself)."""
    timesteps = sorted({int(round(float(timestep))) for timestep in scheduler.timesteps}, reverse=True)
    return {
        timestep: alphas_cumprod[later] if later >= 0 else torch.ones_like(alphas_cumprod[0])
        for timestep, later in zip(timesteps, timesteps[1:] + [-1])
    }


def generate_steps(
    target: str,
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
    seed: int = 0,
    batch_size: int = 1,
    scheduler: str = DEFAULT_SCHEDULER,
    steps: int = DEFAULT_STEPS,
    model: str = DEFAULT_MODEL,
    classifier: str | Path = DEFAULT_CLASSIFIER,
) -> Iterator[GuidedFrame]:
    """Sample `batch_size` images guided towards `target` (a colour or shape word of the classifier), and the
    same seeds without guidance; yield a GuidedFrame after every step (each step on the torch thread). Image i
    is drawn with seed `seed + i`, as in the Unconditional tab; `classifier` is a folder of the project's own."""
    check_target(target, guidance_scale, classifier)
    return torch_thread.steps(
        guided_frames(target, float(guidance_scale), seed, batch_size, scheduler, steps, model, classifier)
    )


@torch.no_grad()
def guided_frames(
    target: str,
    guidance_scale: float,
    seed: int,
    batch_size: int,
    scheduler: str,
    steps: int,
    model: str,
    classifier_folder: str | Path,
) -> Iterator[GuidedFrame]:
    shared = load_pipeline(model, unconditional.PIPELINE_CLASSES)
    unet = shared.unet
    unconditional.check_settings(unet, steps, max_steps(scheduler, shared.scheduler.config), seed, batch_size)
    classifier = load_classifier(classifier_folder).to(unet.device)
    label = classifier.config.labels.index(target)
    noise_scheduler = make_scheduler(scheduler, shared.scheduler.config)  # per request: schedulers keep state
    noise_scheduler.set_timesteps(steps, device=unet.device)
    alphas_cumprod = noise_scheduler.alphas_cumprod.to(unet.device, unet.dtype)
    alphas_previous = previous_alphas(noise_scheduler, alphas_cumprod)
    # The guided images first, then the unguided ones: the same seeds, so the same noise at every draw.
    generator = [torch.Generator().manual_seed(seed + index) for index in list(range(batch_size)) * 2]
    scales = torch.tensor([guidance_scale] * batch_size + [0.0] * batch_size, device=unet.device)
    size = unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else size
    shape = (2 * batch_size, unet.config.in_channels, height, width)
    probabilities: list[torch.Tensor] = []  # p(target | x_t) at the current step
    batched_unet = batching.batched(unet)

    def denoise(noisy_sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        # 2. the diffusion model's prediction at x_t (ε, or v, as it was trained)
        model_output = batched_unet(noisy_sample, timestep).sample
        # 3. the classifier's ∇ log p(y | x_t), at the same x_t and t (Dhariwal & Nichol 2021, sec. 4.1)
        gradient, probability = classifier_gradient(classifier, noisy_sample, timestep, label)
        probabilities[:] = [probability]
        # 4. shift the prediction so that the step's mean moves by s Σ ∇ log p(y | x_t) (their Algorithm 1);
        # s = 0 for the unguided half
        step_from = int(round(float(timestep)))
        alpha_prod, alpha_prod_previous = alphas_cumprod[step_from], alphas_previous[step_from]
        prediction_type = noise_scheduler.config.prediction_type
        return guided_output(model_output, gradient, scales, alpha_prod, alpha_prod_previous, prediction_type)

    started = time.perf_counter()
    # 1. x_T ~ N(0, I), the same for an image and its unguided twin; 5. the sampler's step with the shifted
    # prediction, inside reverse_process
    noise = randn_tensor(shape, generator=generator, device=unet.device, dtype=unet.dtype)
    denoising = reverse_process(denoise, noise_scheduler, noise, generator=generator)
    total_steps = len(noise_scheduler.timesteps)
    for index, step in enumerate(denoising):
        is_last = index == total_steps - 1
        images = to_uint8_images(step.sample if is_last else step.predicted_original)
        probability = probabilities[0].cpu().numpy()
        yield GuidedFrame(
            step=index + 1,
            total_steps=total_steps,
            timestep=step.timestep,
            noisy_sample=to_uint8_images(step.noisy_sample[:batch_size]),
            predicted_original=images[:batch_size],
            elapsed=time.perf_counter() - started,
            target=target,
            unguided_original=images[batch_size:],
            target_probability=probability[:batch_size],
            unguided_probability=probability[batch_size:],
        )


def generate(**settings) -> GuidedFrame:
    """Run `generate_steps(**settings)` to its end; the last frame holds the guided and the unguided images."""
    return deque(generate_steps(**settings), maxlen=1)[0]


def comparison(frame: GuidedFrame, scale: int = 1, gap: int = 1) -> np.ndarray:
    """Two rows: the guided images above, the same seeds without guidance below (uint8, enlarged `scale` times)."""
    count, height, width, channels = frame.predicted_original.shape
    grid = np.full((2 * height + gap, count * (width + gap) - gap, channels), GAP_GREY, dtype=np.uint8)
    for row, images in enumerate((frame.predicted_original, frame.unguided_original)):
        for column, image in enumerate(images):
            top, left = row * (height + gap), column * (width + gap)
            grid[top : top + height, left : left + width] = image
    return grid.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else grid
