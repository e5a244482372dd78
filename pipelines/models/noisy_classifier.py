"""A noise-aware classifier of shapes-world images: which colours and which shapes a noisy image x_t shows.

    classifier = load_classifier()                      # assets/models/shapes-classifier, trained by
    colour_logits, shape_logits = classifier(noisy_sample, timesteps)  # python -m train.train_classifier

Classifier guidance (Dhariwal & Nichol 2021, sec. 4) needs p(y | x_t) at every noise level t of the
sampler, so the classifier sees x_t and t, as the diffusion model does: t enters every block through a
timestep embedding (a scale and shift of its features), as in the paper's noisy ImageNet classifier (the
downsampling half of their UNet). Both heads are multi-label (an image holds one or two objects): each
label's logit gives log p(label present | x_t) = log sigmoid(logit).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from diffusers.models.embeddings import get_timestep_embedding
from safetensors.torch import load_file, save_file

from pipelines.defaults.classifier_guidance import DEFAULT_CLASSIFIER

WEIGHTS_NAME, CONFIG_NAME = "model.safetensors", "config.json"


@dataclass(frozen=True)
class ClassifierConfig:
    colours: tuple[str, ...]  # the colour head's labels, in order
    shapes: tuple[str, ...]  # the shape head's labels
    channels: tuple[int, ...] = (16, 32, 64)  # width at 32, 16 and 8 px (each level halves the size)
    embedding: int = 64  # sinusoidal timestep embedding, as DDPM's UNet embeds t

    @property
    def labels(self) -> tuple[str, ...]:
        return self.colours + self.shapes


class Block(torch.nn.Module):
    """conv, the timestep's scale and shift, conv with stride 2: half the size."""

    def __init__(self, in_channels: int, out_channels: int, time_channels: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = torch.nn.GroupNorm(8, out_channels)
        self.time = torch.nn.Linear(time_channels, 2 * out_channels)
        self.down = torch.nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)
        self.down_norm = torch.nn.GroupNorm(8, out_channels)

    def forward(self, features: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        scale, shift = self.time(time)[:, :, None, None].chunk(2, dim=1)
        features = torch.nn.functional.silu(self.norm(self.conv(features)) * (1 + scale) + shift)
        return torch.nn.functional.silu(self.down_norm(self.down(features)))


class NoisyClassifier(torch.nn.Module):
    """(x_t, t) -> (colour logits, shape logits); any image size (the features are pooled)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        time_channels = 2 * config.embedding
        self.time = torch.nn.Sequential(
            torch.nn.Linear(config.embedding, time_channels),
            torch.nn.SiLU(),
            torch.nn.Linear(time_channels, time_channels),
        )
        widths = (config.channels[0], *config.channels)
        self.stem = torch.nn.Conv2d(3, config.channels[0], 3, padding=1)
        self.blocks = torch.nn.ModuleList(Block(a, b, time_channels) for a, b in zip(widths, widths[1:]))
        pooled = 2 * config.channels[-1]  # mean and max: an object's presence shows in the max
        self.colour_head = torch.nn.Linear(pooled, len(config.colours))
        self.shape_head = torch.nn.Linear(pooled, len(config.shapes))

    def forward(self, noisy_sample: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        timesteps = timesteps.expand(noisy_sample.shape[0]) if timesteps.dim() else timesteps.repeat(len(noisy_sample))
        time = self.time(get_timestep_embedding(timesteps, self.config.embedding, flip_sin_to_cos=True))
        features = self.stem(noisy_sample)
        for block in self.blocks:
            features = block(features, time.to(features.dtype))
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.colour_head(pooled), self.shape_head(pooled)

    def label_logits(self, noisy_sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Both heads' logits side by side, in the order of `config.labels`."""
        return torch.cat(self(noisy_sample, timesteps), dim=1)


def save_classifier(classifier: NoisyClassifier, folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {name: weight.contiguous() for name, weight in classifier.state_dict().items()}
    save_file(weights, folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(asdict(classifier.config), indent=2) + "\n")


def read_config(folder: str | Path) -> ClassifierConfig:
    settings = json.loads((Path(folder) / CONFIG_NAME).read_text())
    return ClassifierConfig(
        **{name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()}
    )


@lru_cache(maxsize=4)
def load_classifier(folder: str | Path = DEFAULT_CLASSIFIER) -> NoisyClassifier:
    """The classifier saved in `folder` (safetensors weights and its JSON config), in eval mode, frozen.
    Call it on the torch thread (`pipelines/engine/torch_thread.py`), as every torch op of the app."""
    classifier = NoisyClassifier(read_config(folder))
    classifier.load_state_dict(load_file(Path(folder) / WEIGHTS_NAME))
    return classifier.eval().requires_grad_(False)
