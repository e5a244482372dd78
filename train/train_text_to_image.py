"""Train the text encoder and UNet of the embedded latent model `assets/models/shapes-sd`.

    python -m train.train_autoencoder       # first: the autoencoder (assets/models/shapes-sd/vae)
    python -m train.train_text_to_image     # then this; resumes from train/checkpoints/ if present

Latent diffusion (Rombach et al. 2022) on the shapes world: the frozen autoencoder turns each
32x32 image into an 8x8x4 latent, and a small `UNet2DConditionModel` learns to denoise those
latents, conditioned through cross-attention on the hidden states of a small `CLIPTextModel`
that trains with it from scratch. The tokenizer is a CLIP BPE tokenizer whose vocabulary is
learnt from the shapes captions (24 words, each one token). Captions are dropped 10 % of the
time, so the same model also predicts unconditionally and classifier-free guidance works (Ho &
Salimans 2022). Same recipe as the pixel model: v-prediction on a cosine schedule, min-SNR-5,
warm-up and cosine decay, EMA of the weights, which is what gets exported, as a complete Stable
Diffusion folder that `StableDiffusionPipeline` and `StableDiffusionInpaintPipeline` load.

On 2 CPU cores one step (batch 64) takes ~0.2 s: the default 6,000 steps take about 20 minutes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from train.common import TrainConfig, diffusion_loss, noise_schedule, parse_config, train_loop
from train.shapes import ShapesDataset, sample_scene

MAX_PROMPT_TOKENS = 16  # start + 10 words of the longest caption + end, with room to spare
VOCABULARY_CAPTIONS = 5000  # captions the tokenizer's vocabulary is learnt from: every word occurs in them


@dataclass
class TextToImageConfig(TrainConfig):
    output_dir: str = "assets/models/shapes-sd"
    autoencoder_dir: str = "assets/models/shapes-sd/vae"  # trained first by train.train_autoencoder
    checkpoint_path: str = "train/checkpoints/shapes-sd.pt"
    log_path: str = "train/logs/shapes-sd.csv"
    steps: int = 6000
    caption_dropout: float = 0.1  # captions replaced by "" so that the model also learns p(x): needed for guidance
    min_snr_gamma: float = 5.0  # min-SNR-gamma: caps the weight of the easy, low-noise timesteps
    x0_weight_floor: float = 1.0  # the noisiest steps decide where things go: their x0 error keeps weight 1
    init_from: str = (
        ""  # a shapes-sd folder to fine-tune (its tokenizer, text encoder and UNet) instead of a fresh start
    )
    block_out_channels: tuple[int, ...] = (64, 96, 96)  # UNet width at 8, 4 and 2 latent pixels: 3.7 M parameters
    text_width: int = 64  # hidden size of the text encoder, and the UNet's cross-attention width
    text_layers: int = 2


def build_tokenizer(seed: int = 0) -> CLIPTokenizer:
    """A CLIP tokenizer whose BPE merges are learnt from the shapes captions until every word is one token."""
    captions = [sample_scene(random.Random(f"{seed}-{index}"))[1] for index in range(VOCABULARY_CAPTIONS)]
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=10_000,  # more than the merges there are: training stops when every word is whole
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyz"),  # unknown words still spell out, letter by letter
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(captions, trainer)
    learnt = json.loads(bpe.to_str())["model"]
    merges = [tuple(merge) for merge in learnt["merges"]]
    return CLIPTokenizer(vocab=learnt["vocab"], merges=merges, model_max_length=MAX_PROMPT_TOKENS)


def build_text_encoder(config: TextToImageConfig, tokenizer: CLIPTokenizer) -> CLIPTextModel:
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.text_width,
            intermediate_size=4 * config.text_width,
            num_hidden_layers=config.text_layers,
            num_attention_heads=4,
            max_position_embeddings=MAX_PROMPT_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_unet(config: TextToImageConfig) -> UNet2DConditionModel:
    """Cross-attention to the prompt at 8x8 and 4x4 latent pixels; a plain ResNet level at 2x2."""
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=config.block_out_channels,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=config.text_width,
        attention_head_dim=8,  # diffusers' name for the number of heads in this model
        norm_num_groups=16,
    )


def build_scheduler() -> DDPMScheduler:
    """The training noise schedule; latents are not bounded, so no clipping of x̂0."""
    return noise_schedule(clip_sample=False)


def main(config: TextToImageConfig) -> None:
    torch.manual_seed(config.seed)
    dataset = ShapesDataset(config.seed)
    autoencoder = AutoencoderKL.from_pretrained(config.autoencoder_dir).requires_grad_(False).eval()
    scheduler = build_scheduler()
    if config.init_from:
        tokenizer = CLIPTokenizer.from_pretrained(config.init_from, subfolder="tokenizer")
        unet = UNet2DConditionModel.from_pretrained(config.init_from, subfolder="unet")
        text_encoder = CLIPTextModel.from_pretrained(config.init_from, subfolder="text_encoder")
    else:
        tokenizer = build_tokenizer(config.seed)
        unet, text_encoder = build_unet(config), build_text_encoder(config, tokenizer)
    model = torch.nn.ModuleDict({"unet": unet, "text_encoder": text_encoder})

    def batch_loss(model: torch.nn.ModuleDict, batch: tuple, generator: torch.Generator) -> torch.Tensor:
        images, captions = batch
        with torch.no_grad():
            latents = autoencoder.encode(images).latent_dist.sample(generator) * autoencoder.config.scaling_factor
        dropped = torch.rand(len(captions), generator=generator) < config.caption_dropout
        captions = ["" if drop else caption for caption, drop in zip(captions, dropped)]
        token_ids = tokenizer(captions, padding="max_length", truncation=True, return_tensors="pt").input_ids
        text_states = model["text_encoder"](token_ids)[0]
        return diffusion_loss(
            lambda noisy, timesteps: model["unet"](noisy, timesteps, encoder_hidden_states=text_states).sample,
            scheduler,
            latents,
            generator,
            config.min_snr_gamma,
            config.x0_weight_floor,
        )

    def export(ema_model: torch.nn.ModuleDict) -> None:
        StableDiffusionPipeline(
            vae=autoencoder,
            text_encoder=ema_model["text_encoder"],
            tokenizer=tokenizer,
            unet=ema_model["unet"],
            # A plain `from_pretrained(...)()` samples with DPM-Solver++; the training schedule comes with it.
            scheduler=DPMSolverMultistepScheduler.from_config(scheduler.config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        ).save_pretrained(config.output_dir, safe_serialization=True)

    def next_batch(step: int) -> tuple[torch.Tensor, list[str]]:
        images, captions = dataset.batch(step * config.batch_size, config.batch_size)
        return torch.from_numpy(images), captions

    train_loop(config, model, next_batch, batch_loss, export)


if __name__ == "__main__":
    main(parse_config(TextToImageConfig, __doc__))
