"""What every training script here shares: the config fields, the loop, the loss, resuming.

Each `train_*.py` defines a `TrainConfig` subclass (its model and its defaults), a model
(an `nn.Module`; several models train together as one `nn.ModuleDict`), a loss on one batch
and an export; `train_loop` does the rest: AdamW with warm-up and cosine decay, gradient
clipping, an EMA of the weights (what gets exported), a CSV log, a progress bar, and a
checkpoint every `checkpoint_every` steps from which a stopped run resumes where it was.
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler
from tqdm import tqdm


@dataclass
class TrainConfig:
    output_dir: str = ""  # diffusers folder the EMA model is exported to
    checkpoint_path: str = ""  # resumable training state (weights, EMA, optimiser, step)
    log_path: str = ""  # CSV of step, loss, learning rate, seconds
    steps: int = 1000  # optimiser steps in all (a resumed run stops here too)
    batch_size: int = 64
    learning_rate: float = 1e-3  # peak, reached after the warm-up
    warmup_steps: int = 200  # linear warm-up: large early updates of Adam destabilise a fresh network
    min_learning_rate: float = 5e-5  # floor of the cosine decay
    weight_decay: float = 0.0
    ema_decay: float = 0.998  # EMA of the weights; averages over the last ~500 steps
    threads: int = 2  # torch threads: one per core, never more (two jobs at once: 1 each)
    checkpoint_every: int = 250  # steps between checkpoints and exports
    seed: int = 0  # seed of the initialisation and of the data stream


def parse_config(config_class: type[TrainConfig], description: str | None) -> TrainConfig:
    """Command-line flags for every int, float and str field of `config_class` (tuples stay as defined)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parsers = {"int": int, "float": float, "str": str}
    for field in fields(config_class):
        if field.type in parsers:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=parsers[field.type], default=field.default)
    return config_class(**vars(parser.parse_args()))


def noise_schedule(clip_sample: bool) -> DDPMScheduler:
    """The embedded models' schedule: T = 1000 on a cosine (Nichol & Dhariwal 2021), v-prediction; `trailing`
    spacing makes few-step sampling start at t = T-1. Pixels are clipped to [-1, 1]; latents are unbounded."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        clip_sample=clip_sample,
    )


def learning_rate_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.min_learning_rate + (config.learning_rate - config.min_learning_rate) * cosine


def diffusion_loss(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler: DDPMScheduler,
    clean: torch.Tensor,
    generator: torch.Generator,
    min_snr_gamma: float,
    x0_weight_floor: float = 0.0,
) -> torch.Tensor:
    """Min-SNR-weighted v-prediction loss on one batch; `denoise(x_t, t)` is the model's v̂.

    In terms of the error of x̂0 the weight is clamp(SNR, x0_weight_floor, min_snr_gamma). Plain min-SNR
    (floor 0) lets the weight of the noisiest steps fall towards 0; but those are the steps at which
    the layout of the image is decided, so a model that must place things where its prompt says
    needs a floor (1: the x0 error counts fully however noisy x_t is)."""
    noise = torch.randn(clean.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (clean.shape[0],), generator=generator)
    # 1. forward process: x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps (DDPM eq. 4)
    noisy = scheduler.add_noise(clean, noise, timesteps)
    # 2. the target v = sqrt(a_t) eps - sqrt(1 - a_t) x_0 (Salimans & Ho 2022, sec. 4)
    velocity = scheduler.get_velocity(clean, noise, timesteps)
    predicted_velocity = denoise(noisy, timesteps)
    # 3. min-SNR weighting for v: min(SNR, gamma) / (SNR + 1) (Hang et al. 2023, eq. 10), since
    #    |v̂ - v|² = (SNR + 1) |x̂0 - x0|²; with a floor under the x0 weight at high noise
    alphas_cumprod = scheduler.alphas_cumprod[timesteps]
    snr = alphas_cumprod / (1 - alphas_cumprod)
    weights = torch.clamp(snr, min=x0_weight_floor, max=min_snr_gamma) / (snr + 1)
    per_sample = (predicted_velocity - velocity).pow(2).mean(dim=tuple(range(1, clean.dim())))
    return (weights * per_sample).mean()


def train_loop(
    config: TrainConfig,
    model: torch.nn.Module,
    next_batch: Callable[[int], Any],
    batch_loss: Callable[[torch.nn.Module, Any, torch.Generator], torch.Tensor],
    export: Callable[[torch.nn.Module], None],
) -> torch.nn.Module:
    """Train `model` to `config.steps`, resuming from the checkpoint if there is one; returns the EMA model.

    `next_batch(step)` makes the batch of a step (a deterministic function of it, rendered on a
    second thread while the current step runs); `batch_loss(model, batch, generator)` its loss;
    `export(ema_model)` writes the diffusers folder, at every checkpoint and at the end.
    """
    torch.set_num_threads(config.threads)
    ema_model = copy.deepcopy(model).requires_grad_(False)
    trainable = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    start_step = 0
    checkpoint = Path(config.checkpoint_path)
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        ema_model.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = state["step"]
        print(f"resumed from {checkpoint} at step {start_step}")
    print(f"{sum(param.numel() for param in trainable) / 1e6:.2f} M trainable parameters; {asdict(config)}")

    Path(config.log_path).parent.mkdir(parents=True, exist_ok=True)
    log_is_new = not Path(config.log_path).exists()
    with open(config.log_path, "a", newline="") as log_file, ThreadPoolExecutor(1) as prefetcher:
        log = csv.writer(log_file)
        if log_is_new:
            log.writerow(["step", "loss", "learning_rate", "seconds"])
        batch = prefetcher.submit(next_batch, start_step)  # rendering overlaps with the optimiser step
        progress = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps, desc="train")
        for step in progress:
            started = time.perf_counter()
            inputs = batch.result()
            batch = prefetcher.submit(next_batch, step + 1)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            loss = batch_loss(model, inputs, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            # EMA with a warm-up of its own, so that the first exports are not mostly the random init.
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for ema_param, param in zip(ema_model.parameters(), model.parameters()):
                    ema_param.lerp_(param, 1 - decay)
            seconds = time.perf_counter() - started
            log.writerow([step + 1, f"{loss.item():.5f}", f"{optimizer.param_groups[0]['lr']:.6f}", f"{seconds:.3f}"])
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                log_file.flush()
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                state = {
                    "model": model.state_dict(),
                    "ema": ema_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step + 1,
                }
                torch.save(state, f"{checkpoint}.tmp")
                os.replace(f"{checkpoint}.tmp", checkpoint)  # a stop mid-write never corrupts the checkpoint
                export(ema_model)
    print(f"exported the EMA model to {config.output_dir}")
    return ema_model
