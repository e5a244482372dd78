"""Train the UNet of the embedded super-resolution model `assets/models/photo-sr-4x`.

    python -m train.train_sr_autoencoder      # first: the autoencoder (assets/models/photo-sr-4x/vqvae)
    python -m train.train_super_resolution    # then this; resumes from train/checkpoints/ if present

Super-resolution by latent diffusion, as in Rombach et al. (2022, sec. 4.4): the frozen VQ
autoencoder turns a 128x128 photo crop into a 32x32x3 latent, and a `UNet2DModel` learns to
denoise that latent given the 32x32 bicubic-downsampled crop, concatenated to its input as three
more channels. At run time diffusers' `LDMSuperResolutionPipeline` starts from noise of the
input's size, denoises it beside the input, and decodes the result 4x larger. Recipe of the
other embedded models: v-prediction on a cosine schedule, min-SNR-5, warm-up and cosine decay,
EMA of the weights. The UNet has no attention, so it takes any input size.

The latents of 8,192 training crops are encoded once at the start (about 3 minutes): the UNet
steps then cost only its own forward and backward pass. Crops are as large as the autoencoder's
late ones, so that the group norms see statistics like those of whole photos. On 2 CPU cores one
step (batch 16) takes ~0.5 s: the default 3,000 steps take about 25 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, LDMSuperResolutionPipeline, UNet2DModel, VQModel
from tqdm import tqdm

from train.common import TrainConfig, diffusion_loss, noise_schedule, parse_config, train_loop
from train.photos import random_crops, to_tensor_layout


@dataclass
class SuperResolutionConfig(TrainConfig):
    output_dir: str = "assets/models/photo-sr-4x"
    checkpoint_path: str = "train/checkpoints/photo-sr-4x-unet.pt"
    log_path: str = "train/logs/photo-sr-4x-unet.csv"
    autoencoder_dir: str = "assets/models/photo-sr-4x/vqvae"
    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 5e-4
    crop_size: int = 128  # pixels of a training crop; its latent and its low-resolution input are 32x32
    crops: int = 8192  # training crops, encoded once
    min_snr_gamma: float = 5.0  # min-SNR loss weighting (Hang et al. 2023)
    block_out_channels: tuple[int, ...] = (64, 128, 128)  # widths at full, 1/2 and 1/4 of the latent's size


def build_unet(config: SuperResolutionConfig) -> UNet2DModel:
    blocks = len(config.block_out_channels)
    return UNet2DModel(
        sample_size=config.crop_size // 4,
        in_channels=6,  # the noisy latent x_t and the low-resolution image, side by side
        out_channels=3,
        block_out_channels=config.block_out_channels,
        down_block_types=("DownBlock2D",) * blocks,
        up_block_types=("UpBlock2D",) * blocks,
        layers_per_block=2,
    )


@torch.no_grad()
def encode_crops(autoencoder: VQModel, config: SuperResolutionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents, low-resolution images) of `config.crops` augmented training crops, in chunks of 256."""
    latents, low_resolution = [], []
    for start in tqdm(range(0, config.crops, 256), desc="encode"):
        high, low = random_crops(config.seed * 1_000_003 + start, 256, config.crop_size)
        latents.append(autoencoder.encode(torch.from_numpy(to_tensor_layout(high))).latents)
        low_resolution.append(torch.from_numpy(to_tensor_layout(low)))
    return torch.cat(latents), torch.cat(low_resolution)


def main(config: SuperResolutionConfig) -> None:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    autoencoder = VQModel.from_pretrained(config.autoencoder_dir).requires_grad_(False).eval()
    latents, low_resolution = encode_crops(autoencoder, config)
    scheduler = noise_schedule(clip_sample=False)

    def next_batch(step: int) -> torch.Tensor:
        return torch.randint(0, config.crops, (config.batch_size,), generator=torch.Generator().manual_seed(step))

    def batch_loss(unet: UNet2DModel, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        condition = low_resolution[indices]
        return diffusion_loss(
            lambda noisy, timesteps: unet(torch.cat([noisy, condition], dim=1), timesteps).sample,
            scheduler,
            latents[indices],
            generator,
            config.min_snr_gamma,
        )

    def export(ema_unet: UNet2DModel) -> None:
        # DDIM is what the pipeline's own example and the CompVis model use; the training schedule comes with it.
        LDMSuperResolutionPipeline(
            vqvae=autoencoder, unet=ema_unet, scheduler=DDIMScheduler.from_config(scheduler.config)
        ).save_pretrained(config.output_dir, safe_serialization=True)

    train_loop(config, build_unet(config), next_batch, batch_loss, export)


if __name__ == "__main__":
    main(parse_config(SuperResolutionConfig, __doc__))
