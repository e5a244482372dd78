"""Train the autoencoder of the embedded super-resolution model `assets/models/photo-sr-4x/vqvae`.

    python -m train.train_sr_autoencoder              # resumes from train/checkpoints/ if present
    python -m train.train_sr_autoencoder --steps 4000 # train further than the default

diffusers' `LDMSuperResolutionPipeline` diffuses a latent with the size of the low-resolution
input and decodes it with a `VQModel` 4x larger, as Rombach et al. (2022) do with their
VQ-f4 autoencoder: a 3-channel latent per 4x4 pixel block. This script trains that autoencoder
on 64x64 photo crops with an L1 reconstruction loss, and two choices make it learn in minutes:
- the latent is *anchored* to the low-resolution image: an L1 term pulls it towards the 4x
  bicubic-downsampled crop, so it is an image from the first step and keeps only as much
  extra detail as pays (in a one-off comparison over 300 steps, not kept as a script, held-out
  crops came back closer with the anchor than without). It also makes the diffusion model's task
  (the latent given the low-resolution image) narrow;
- the decoder's normalisations are `SpatialNorm`s (`norm_type="spatial"`, MoVQ, Zheng et al.
  2022): each one is modulated by the latent itself, so the decoder sees the latent's colours at
  every layer instead of carrying them through from its first.
The last two thirds of the steps train on 128-pixel crops (4 a batch, the same pixels per step):
group norms normalise over the whole image, and their statistics on 64-pixel crops differ from
those on the 256- to 512-pixel photos the tab upscales.
The codebook is not learnt by gradient: the encoder trains with continuous latents plus noise at
10 % of their spread (so that the decoder tolerates small latent errors: quantisation, and the
diffusion model's own), and at each export the codebook is fitted by k-means to the latents of
training crops.

Two facts of the pipeline shape the export. It feeds latents to the decoder with no scaling
factor, so the latent scale that gives unit variance (what the noise schedule assumes) is
folded into the weights: `quant_conv` and the codebook are multiplied by it and the layers that
read the latent (`post_quant_conv`, the spatial norms) divided, an exactly equivalent model. And
its decoder always quantises (`VQModel.decode`), so the codebook must be fine: 2,048 entries for 3
numbers.

On 2 CPU cores one step (batch 16) takes ~0.57 s: the default 3,000 steps take about 30 minutes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from diffusers import VQModel
from diffusers.models.attention_processor import SpatialNorm

from train.common import TrainConfig, parse_config, train_loop
from train.photos import random_crops, to_tensor_layout

CODEBOOK_CROPS = 256  # 64x64 crops whose 65,536 latents fit the codebook and the scale


@dataclass
class SuperResolutionAutoencoderConfig(TrainConfig):
    output_dir: str = "assets/models/photo-sr-4x/vqvae"
    checkpoint_path: str = "train/checkpoints/photo-sr-4x-vqvae.pt"
    log_path: str = "train/logs/photo-sr-4x-vqvae.csv"
    steps: int = 3000
    batch_size: int = 16
    crop_size: int = 64  # pixels; 16x16 latents
    large_crops_from: int = 1000  # from this step on, crops of twice the size in batches a quarter as large
    latent_noise: float = 0.1  # std of the noise added to latents in training, relative to their std
    anchor_weight: float = 1.0  # weight of the L1 pull of the latent towards the low-resolution image
    codebook_size: int = 2048
    block_out_channels: tuple[int, ...] = (32, 64, 64)  # widths at 1x, 1/2 and 1/4 scale: two halvings, f = 4


def build_autoencoder(config: SuperResolutionAutoencoderConfig) -> VQModel:
    blocks = len(config.block_out_channels)
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=config.block_out_channels,
        layers_per_block=1,
        latent_channels=3,
        num_vq_embeddings=config.codebook_size,
        norm_num_groups=32,  # SpatialNorm's own group count
        norm_type="spatial",  # the decoder's norms are modulated by the latent (MoVQ)
        mid_block_add_attention=False,  # fully convolutional: any image size, memory linear in it
        scaling_factor=1.0,  # folded into the weights at export (the pipeline applies none)
    )


def autoencoder_loss(
    autoencoder: VQModel,
    batch: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    config: SuperResolutionAutoencoderConfig,
) -> torch.Tensor:
    images, low_resolution = batch
    latents = autoencoder.encode(images).latents
    # noise relative to the latents' own spread, so that the encoder cannot outgrow it by scaling up
    noise = torch.randn(latents.shape, generator=generator) * config.latent_noise * latents.detach().std()
    reconstruction = autoencoder.decode(latents + noise, force_not_quantize=True).sample
    anchor = (latents - low_resolution).abs().mean()
    return (reconstruction - images).abs().mean() + config.anchor_weight * anchor


def training_batch(seed: int, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(crops, their 4x-downsampled versions) as tensors in [-1, 1]."""
    high, low = random_crops(seed, count, size)
    return torch.from_numpy(to_tensor_layout(high)), torch.from_numpy(to_tensor_layout(low))


def batch_shape(step: int, config: SuperResolutionAutoencoderConfig) -> tuple[int, int]:
    """(crops, crop size) of a step's batch: the same number of pixels throughout, in larger crops late on."""
    if step < config.large_crops_from:
        return config.batch_size, config.crop_size
    return max(1, config.batch_size // 4), 2 * config.crop_size


@torch.no_grad()
def exportable(autoencoder: VQModel, config: SuperResolutionAutoencoderConfig) -> VQModel:
    """A copy with unit-variance latents and a k-means codebook fitted to them."""
    autoencoder = copy.deepcopy(autoencoder)
    images, _ = training_batch(10_000_000, CODEBOOK_CROPS, config.crop_size)  # far from the training stream
    latents = autoencoder.encode(images).latents
    scale = 1.0 / latents.std().item()
    autoencoder.quant_conv.weight.mul_(scale)
    autoencoder.quant_conv.bias.mul_(scale)
    latent_readers = [autoencoder.post_quant_conv]  # 1x1 convolutions of the latent: divided by the scale
    for module in autoencoder.decoder.modules():
        if isinstance(module, SpatialNorm):
            latent_readers += [module.conv_y, module.conv_b]
    for layer in latent_readers:
        layer.weight.div_(scale)
    vectors = (latents * scale).permute(0, 2, 3, 1).reshape(-1, 3)
    autoencoder.quantize.embedding.weight.copy_(kmeans(vectors, config.codebook_size))
    return autoencoder


def kmeans(vectors: torch.Tensor, count: int, iterations: int = 25) -> torch.Tensor:
    """Lloyd's k-means (from `count` distinct data vectors): `count` centroids minimising the quantisation error."""
    generator = torch.Generator().manual_seed(0)
    centroids = vectors[torch.randperm(len(vectors), generator=generator)[:count]].clone()
    for _ in range(iterations):
        nearest = torch.cat([torch.cdist(chunk, centroids).argmin(1) for chunk in vectors.split(8192)])
        sums = torch.zeros_like(centroids).index_add_(0, nearest, vectors)
        counts = torch.bincount(nearest, minlength=count)[:, None]
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)  # an empty cluster stays put
    return centroids


def main(config: SuperResolutionAutoencoderConfig) -> None:
    torch.manual_seed(config.seed)
    train_loop(
        config,
        build_autoencoder(config),
        next_batch=lambda step: training_batch(step, *batch_shape(step, config)),
        batch_loss=lambda model, batch, generator: autoencoder_loss(model, batch, generator, config),
        export=lambda ema: exportable(ema, config).save_pretrained(config.output_dir, safe_serialization=True),
    )


if __name__ == "__main__":
    main(parse_config(SuperResolutionAutoencoderConfig, __doc__))
