"""Train the noise-aware classifier `assets/models/shapes-classifier` that steers `shapes-ddpm` (classifier guidance).

    python -m train.train_classifier                 # resumes from train/checkpoints/ if present
    python -m train.evaluate_classifier              # its accuracy on held-out images, clean and noisy

A 0.13 M-parameter `pipelines.models.noisy_classifier.NoisyClassifier` learns which colours and which shapes a
shapes-world image holds, from x_t: the image forward-noised at a random t with shapes-ddpm's own schedule
(its scheduler_config.json), x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps (DDPM eq. 4), as Dhariwal & Nichol
(2021, sec. 4) train their noisy classifiers. Both heads are multi-label (binary cross-entropy per label).
Images come fresh every step from `train.shapes.ShapesDataset(seed)`; held-out images from another seed.

On 2 free CPU cores (2 torch threads) the default 2,000 steps of batch 64 took 2 min 12 s (about 7 minutes
when the cores are shared with other work); it saves a
checkpoint every 250 steps (`train/checkpoints/shapes-classifier.pt`), so a stopped run resumes where it was,
and exports the EMA weights (safetensors, float32) with a JSON config; the log is train/logs/shapes-classifier.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDPMScheduler

from pipelines.models.noisy_classifier import ClassifierConfig, NoisyClassifier, save_classifier
from train.common import TrainConfig, parse_config, train_loop
from train.shapes import COLOURS, SHAPES, ShapesDataset

DIFFUSION_MODEL = "assets/models/shapes-ddpm"  # the model it guides: its noise schedule is the one trained on


@dataclass
class ClassifierTrainConfig(TrainConfig):
    output_dir: str = "assets/models/shapes-classifier"
    checkpoint_path: str = "train/checkpoints/shapes-classifier.pt"
    log_path: str = "train/logs/shapes-classifier.csv"
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    ema_decay: float = 0.995


def noise_schedule() -> DDPMScheduler:
    return DDPMScheduler.from_pretrained(DIFFUSION_MODEL, subfolder="scheduler")


def labels_of(objects: list) -> np.ndarray:
    """Multi-hot over (colours..., shapes...): what an image holds."""
    vocabulary = list(COLOURS) + list(SHAPES)
    present = np.zeros(len(vocabulary), dtype=np.float32)
    for obj in objects:
        present[vocabulary.index(obj.colour)] = present[vocabulary.index(obj.shape)] = 1
    return present


def labelled_batch(dataset: ShapesDataset, start: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Items start..start+size: images in [-1, 1] (NCHW) and their multi-hot labels."""
    items = [dataset[index] for index in range(start, start + size)]
    images = np.stack([image for image, _, _ in items]).astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1
    return torch.from_numpy(images), torch.from_numpy(np.stack([labels_of(objects) for _, _, objects in items]))


def noised(
    scheduler: DDPMScheduler, images: torch.Tensor, generator: torch.Generator, timesteps: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_t of each image at a random t (or the `timesteps` given), and those t."""
    if timesteps is None:
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(images),), generator=generator)
    noise = torch.randn(images.shape, generator=generator)
    return scheduler.add_noise(images, noise, timesteps), timesteps  # DDPM eq. 4


def main(config: ClassifierTrainConfig) -> None:
    torch.manual_seed(config.seed)
    dataset, scheduler = ShapesDataset(config.seed), noise_schedule()

    def batch_loss(
        classifier: NoisyClassifier, batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        images, labels = batch
        noisy_images, timesteps = noised(scheduler, images, generator)
        logits = classifier.label_logits(noisy_images, timesteps)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)

    train_loop(
        config,
        NoisyClassifier(ClassifierConfig(colours=tuple(COLOURS), shapes=SHAPES)),
        next_batch=lambda step: labelled_batch(dataset, step * config.batch_size, config.batch_size),
        batch_loss=batch_loss,
        export=lambda ema_classifier: save_classifier(ema_classifier, config.output_dir),
    )


if __name__ == "__main__":
    main(parse_config(ClassifierTrainConfig, __doc__))
