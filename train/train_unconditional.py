"""Train the embedded unconditional model `assets/models/shapes-ddpm` on the shapes world.

    python -m train.train_unconditional             # resumes from train/checkpoints/ if present
    python -m train.train_unconditional --steps 6000 # train further than the default

A ~1.1 M-parameter `UNet2DModel` learns to denoise 32x32 shape images (DDPM, T = 1000,
Ho et al. 2020) with the practice that makes such a small CPU run work:
v-prediction (Salimans & Ho 2022) on a cosine schedule (Nichol & Dhariwal 2021),
min-SNR-5 loss weighting (Hang et al. 2023), learning-rate warm-up and cosine decay,
and an exponential moving average of the weights, which is what gets exported.

On 2 CPU cores one step (batch 64) takes ~0.9 s: the default 4,500 steps take about
70 minutes. Every `checkpoint_every` steps the run saves a checkpoint (weights, EMA,
optimiser, step) and exports the EMA model as a diffusers folder, so that a stopped
run loses little and resumes where it was; the data stream is a deterministic function
of the step, so a resumed run sees what an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from tqdm import tqdm

from train.shapes import IMAGE_SIZE, ShapesDataset


@dataclass
class TrainConfig:
    output_dir: str = "assets/models/shapes-ddpm"  # diffusers folder the EMA model is exported to
    checkpoint_path: str = "train/checkpoints/shapes-ddpm.pt"  # resumable training state
    log_path: str = "train/logs/shapes-ddpm.csv"  # step, loss, learning rate, seconds
    steps: int = 4500  # optimiser steps in all (a resumed run stops here too)
    batch_size: int = 64
    learning_rate: float = 1e-3  # peak, reached after the warm-up
    warmup_steps: int = 200  # linear warm-up: large early updates of Adam destabilise a fresh UNet
    min_learning_rate: float = 5e-5  # floor of the cosine decay
    weight_decay: float = 0.0
    ema_decay: float = 0.998  # EMA of the weights; averages over the last ~500 steps
    min_snr_gamma: float = 5.0  # min-SNR-gamma: caps the weight of the easy, low-noise timesteps
    block_out_channels: tuple[int, ...] = (32, 64, 64)  # UNet width at 32, 16 and 8 px
    threads: int = 2  # torch threads: one per core, never more
    checkpoint_every: int = 250  # steps between checkpoints and exports
    seed: int = 0  # seed of the model's initialisation and of the data stream


def build_unet(config: TrainConfig) -> UNet2DModel:
    """Self-attention only at 8x8, where it is cheap; plain ResNet blocks above."""
    return UNet2DModel(
        sample_size=IMAGE_SIZE,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=config.block_out_channels,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=32,
    )


def build_scheduler() -> DDPMScheduler:
    """The model's noise schedule; `trailing` spacing makes few-step sampling start at t = T-1."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        clip_sample=True,
        variance_type="fixed_small",
    )


def learning_rate_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.min_learning_rate + (config.learning_rate - config.min_learning_rate) * cosine


def diffusion_loss(
    unet: UNet2DModel, scheduler: DDPMScheduler, clean_images: torch.Tensor, generator: torch.Generator, gamma: float
) -> torch.Tensor:
    """Min-SNR-weighted v-prediction loss on one batch."""
    noise = torch.randn(clean_images.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (clean_images.shape[0],), generator=generator)
    # 1. forward process: x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps (DDPM eq. 4)
    noisy_images = scheduler.add_noise(clean_images, noise, timesteps)
    # 2. the target v = sqrt(a_t) eps - sqrt(1 - a_t) x_0 (Salimans & Ho 2022, sec. 4)
    velocity = scheduler.get_velocity(clean_images, noise, timesteps)
    predicted_velocity = unet(noisy_images, timesteps).sample
    # 3. min-SNR weighting for v: min(SNR, gamma) / (SNR + 1) (Hang et al. 2023, eq. 10)
    alphas_cumprod = scheduler.alphas_cumprod[timesteps]
    snr = alphas_cumprod / (1 - alphas_cumprod)
    weights = torch.clamp(snr, max=gamma) / (snr + 1)
    per_image = (predicted_velocity - velocity).pow(2).mean(dim=(1, 2, 3))
    return (weights * per_image).mean()


def export(ema_unet: UNet2DModel, output_dir: str) -> None:
    DDPMPipeline(unet=ema_unet, scheduler=build_scheduler()).save_pretrained(output_dir, safe_serialization=True)


def train(config: TrainConfig) -> None:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    unet, ema_unet = build_unet(config), build_unet(config)
    ema_unet.load_state_dict(unet.state_dict())
    ema_unet.requires_grad_(False)
    scheduler = build_scheduler()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    start_step = 0
    checkpoint = Path(config.checkpoint_path)
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        unet.load_state_dict(state["unet"])
        ema_unet.load_state_dict(state["ema_unet"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = state["step"]
        print(f"resumed from {checkpoint} at step {start_step}")
    print(f"UNet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M parameters; {asdict(config)}")

    dataset = ShapesDataset(config.seed)
    Path(config.log_path).parent.mkdir(parents=True, exist_ok=True)
    log_is_new = not Path(config.log_path).exists()
    with open(config.log_path, "a", newline="") as log_file, ThreadPoolExecutor(1) as prefetcher:
        log = csv.writer(log_file)
        if log_is_new:
            log.writerow(["step", "loss", "learning_rate", "seconds"])
        # Rendering the next batch overlaps with the current optimiser step.
        next_batch = prefetcher.submit(dataset.batch, start_step * config.batch_size, config.batch_size)
        progress = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps, desc="train")
        for step in progress:
            started = time.perf_counter()
            images, _ = next_batch.result()
            next_batch = prefetcher.submit(dataset.batch, (step + 1) * config.batch_size, config.batch_size)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            loss = diffusion_loss(unet, scheduler, torch.from_numpy(images), generator, config.min_snr_gamma)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            # EMA with a warm-up of its own, so that the first exports are not mostly the random init.
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for ema_param, param in zip(ema_unet.parameters(), unet.parameters()):
                    ema_param.lerp_(param, 1 - decay)
            log.writerow(
                [
                    step + 1,
                    f"{loss.item():.5f}",
                    f"{optimizer.param_groups[0]['lr']:.6f}",
                    f"{time.perf_counter() - started:.3f}",
                ]
            )
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                log_file.flush()
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                state = {
                    "unet": unet.state_dict(),
                    "ema_unet": ema_unet.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step + 1,
                }
                torch.save(state, f"{checkpoint}.tmp")
                os.replace(f"{checkpoint}.tmp", checkpoint)  # a stop mid-write never corrupts the checkpoint
                export(ema_unet, config.output_dir)
    print(f"exported the EMA model to {config.output_dir}")


def parse_config() -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parsers = {"int": int, "float": float, "str": str}  # tuple fields are set in the dataclass only
    for field in fields(TrainConfig):
        if field.type in parsers:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=parsers[field.type], default=field.default)
    return TrainConfig(**vars(parser.parse_args()))


if __name__ == "__main__":
    train(parse_config())
