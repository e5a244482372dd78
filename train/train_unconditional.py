"""Train the embedded unconditional model `assets/models/shapes-ddpm` on the shapes world.

    python -m train.train_unconditional             # resumes from train/checkpoints/ if present
    python -m train.train_unconditional --steps 9000 # train further than the default

A ~1.1 M-parameter `UNet2DModel` learns to denoise 32x32 shape images (DDPM, T = 1000,
Ho et al. 2020) with the practice that makes such a small CPU run work:
v-prediction (Salimans & Ho 2022) on a cosine schedule (Nichol & Dhariwal 2021),
min-SNR-5 loss weighting (Hang et al. 2023), learning-rate warm-up and cosine decay,
and an exponential moving average of the weights, which is what gets exported.

On 2 CPU cores one step (batch 64) takes 0.6-1.2 s, by machine: the default 7,000 steps
take 1.5 to 2 hours (the committed model: 4,500 steps in 1 h 34 min, resumed to 7,000 in 30 min).
Every `checkpoint_every` steps the run saves a checkpoint (weights, EMA,
optimiser, step) and exports the EMA model as a diffusers folder, so that a stopped
run loses little and resumes where it was; the data stream is a deterministic function
of the step, so a resumed run sees what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from train.common import TrainConfig, diffusion_loss, noise_schedule, parse_config, train_loop
from train.shapes import IMAGE_SIZE, ShapesDataset


@dataclass
class UnconditionalConfig(TrainConfig):
    output_dir: str = "assets/models/shapes-ddpm"
    checkpoint_path: str = "train/checkpoints/shapes-ddpm.pt"
    log_path: str = "train/logs/shapes-ddpm.csv"
    steps: int = 7000
    min_snr_gamma: float = 5.0  # min-SNR-gamma: caps the weight of the easy, low-noise timesteps
    block_out_channels: tuple[int, ...] = (32, 64, 64)  # UNet width at 32, 16 and 8 px


def build_unet(config: UnconditionalConfig) -> UNet2DModel:
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
    """The model's noise schedule: pixels in [-1, 1]."""
    return noise_schedule(clip_sample=True)


def main(config: UnconditionalConfig) -> None:
    torch.manual_seed(config.seed)
    dataset = ShapesDataset(config.seed)
    scheduler = build_scheduler()

    def batch_loss(unet: UNet2DModel, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return diffusion_loss(
            lambda noisy, timesteps: unet(noisy, timesteps).sample, scheduler, images, generator, config.min_snr_gamma
        )

    def export(ema_unet: UNet2DModel) -> None:
        DDPMPipeline(unet=ema_unet, scheduler=build_scheduler()).save_pretrained(
            config.output_dir, safe_serialization=True
        )

    train_loop(
        config,
        build_unet(config),
        next_batch=lambda step: torch.from_numpy(dataset.batch(step * config.batch_size, config.batch_size)[0]),
        batch_loss=batch_loss,
        export=export,
    )


if __name__ == "__main__":
    main(parse_config(UnconditionalConfig, __doc__))
