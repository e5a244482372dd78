"""Train the embedded super-resolution model `photo-sr-4x` (issue 16): residual diffusion in pixel space.

    python -m train.train_residual_super_resolution              # 6,000 steps; resumes from train/checkpoints/
    python -m train.train_residual_super_resolution --steps 7500 --x0-weight-floor 5    # 1,500 more
    python -m train.train_residual_super_resolution --steps 10000 --x0-weight-floor 5   # the last 2,500
    python -m train.evaluate --super-resolution --all-settings --model artifacts/photo-sr-4x-residual  # score it

On 2 CPU cores one step (batch 16 of 128-pixel crops) takes 0.54 s with the machine to itself (1 to 4 s when
it is shared): 54 minutes, then 14, then 24. It writes to artifacts/photo-sr-4x-residual; the committed
assets/models/photo-sr-4x is that folder after the three runs (docs/models.md has its figures). The first
two ran before the stereo motorcycle photo's two views joined the training photos (`train.photos`), the
last with them; `residual_scale` is measured again at each start, on the photos of the time (0.0936, then
0.1070, which the last run trained with and the export carries).

Residual diffusion in pixel space (SRDiff, Li et al. 2022; conditioned as SR3, Saharia et al. 2021;
the pipeline is `pipelines/models/residual_super_resolution.py`): x0 is the high-resolution crop minus
the bicubic upsampling of its 4x-downsampled version, divided by its spread and rearranged into
48 channels at the small size; a `UNet2DModel` with no attention (any input size) learns to
denoise it given the 32x32 small crop, concatenated to x_t as three more channels. No autoencoder:
the round trip of the latent model's is below bicubic (docs/models.md), which caps it. Recipe of
the other embedded models: v-prediction on a cosine schedule, min-SNR-5, warm-up and cosine decay,
EMA of the weights. Every step renders a fresh batch of augmented crops (`train.photos`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, UNet2DModel

from pipelines.models.residual_super_resolution import IMAGE_CHANNELS, SCALE, ResidualSuperResolutionPipeline
from train.common import TrainConfig, diffusion_loss, noise_schedule, parse_config, train_loop
from train.photos import random_crops, to_tensor_layout

SCALE_CROPS = 1024  # training crops whose residual's std becomes `residual_scale`


@dataclass
class SuperResolutionConfig(TrainConfig):
    output_dir: str = "artifacts/photo-sr-4x-residual"
    checkpoint_path: str = "train/checkpoints/photo-sr-4x-residual.pt"
    log_path: str = "train/logs/photo-sr-4x-residual.csv"
    steps: int = 6000
    batch_size: int = 16
    learning_rate: float = 5e-4
    crop_size: int = 128  # pixels of a training crop; its low-resolution input is 32x32
    min_snr_gamma: float = 5.0  # min-SNR loss weighting (Hang et al. 2023)
    # The x̂0 error counts fully at the noisiest steps too: there the model's x̂0 is its best estimate of
    # the residual (the posterior mean, what PSNR rewards), which few-step sampling relies on.
    x0_weight_floor: float = 1.0
    block_out_channels: tuple[int, ...] = (64, 128, 128)  # widths at 1, 1/2 and 1/4 of the input's size


def build_unet(config: SuperResolutionConfig) -> UNet2DModel:
    blocks = len(config.block_out_channels)
    residual_channels = IMAGE_CHANNELS * SCALE**2  # a 4x4 block of RGB pixels per position
    return UNet2DModel(
        sample_size=config.crop_size // SCALE,
        in_channels=residual_channels + IMAGE_CHANNELS,  # x_t and the low-resolution image, side by side
        out_channels=residual_channels,
        block_out_channels=config.block_out_channels,
        down_block_types=("DownBlock2D",) * blocks,
        up_block_types=("UpBlock2D",) * blocks,
        layers_per_block=2,
    )


def training_batch(seed: int, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(crops, their 4x-downsampled versions) as tensors in [-1, 1]."""
    high, low = random_crops(seed, count, size)
    return torch.from_numpy(to_tensor_layout(high)), torch.from_numpy(to_tensor_layout(low))


def residual_scale(config: SuperResolutionConfig) -> float:
    """The std of what bicubic upsampling misses, over crops far from the training stream."""
    images, low_resolution = training_batch(10_000_000, SCALE_CROPS, config.crop_size)
    return (images - ResidualSuperResolutionPipeline.upsample(low_resolution)).std().item()


def main(config: SuperResolutionConfig) -> None:
    torch.manual_seed(config.seed)
    scheduler = noise_schedule(clip_sample=False)  # the residual is not bounded like pixels
    # DDIM: what LDMSuperResolutionPipeline and SR3's fast samplers use; the training schedule comes with it.
    pipeline = ResidualSuperResolutionPipeline(
        unet=build_unet(config),
        scheduler=DDIMScheduler.from_config(scheduler.config),
        residual_scale=residual_scale(config),
    )
    print(f"residual scale {pipeline.config.residual_scale:.4f}")

    def batch_loss(unet: UNet2DModel, batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator):
        images, low_resolution = batch
        return diffusion_loss(
            lambda noisy, timesteps: unet(torch.cat([noisy, low_resolution], dim=1), timesteps).sample,
            scheduler,
            pipeline.residual_latents(images, low_resolution),
            generator,
            config.min_snr_gamma,
            config.x0_weight_floor,
        )

    def export(ema_unet: UNet2DModel) -> None:
        exported = ResidualSuperResolutionPipeline(
            unet=ema_unet, scheduler=pipeline.scheduler, residual_scale=pipeline.config.residual_scale
        )
        exported.save_pretrained(config.output_dir, safe_serialization=True)

    train_loop(
        config,
        pipeline.unet,
        next_batch=lambda step: training_batch(config.seed * 1_000_003 + step, config.batch_size, config.crop_size),
        batch_loss=batch_loss,
        export=export,
    )


if __name__ == "__main__":
    main(parse_config(SuperResolutionConfig, __doc__))
