"""Train the 2D toy's noise-prediction networks `assets/models/toy2d/<data set>.safetensors`.

    python -m train.train_toy2d                   # the three data sets, one after the other
    python -m train.train_toy2d --data-set ring   # one of them

On 2 CPU cores each data set takes about 13 s (3,000 steps of batch 512 on one thread), the three
49 s (`time python -m train.train_toy2d`, which made the committed weights). A run resumes from
`train/checkpoints/toy2d-<data set>.pt` if it exists: delete it to train again from scratch.

An MLP of three hidden layers (`pipelines.toy2d.NoisePredictor`) learns DDPM's simple loss
‖ε − ε̂(x_t, t)‖² (Ho et al. 2020, eq. 14) on fresh points of the data set at every step, on
DDPM's linear schedule (T = 1000). Its EMA weights are saved in float16: 92 kB a data set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from diffusers import DDPMScheduler
from safetensors.torch import save_file

from pipelines.toy2d import DATA_SETS, SCHEDULE, NoisePredictor, file_name, sample_data
from train.common import TrainConfig, parse_config, train_loop


@dataclass
class Toy2dConfig(TrainConfig):
    output_dir: str = "assets/models/toy2d"
    checkpoint_path: str = "train/checkpoints/toy2d-{data_set}.pt"
    log_path: str = "train/logs/toy2d-{data_set}.csv"
    steps: int = 3000
    batch_size: int = 512
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    ema_decay: float = 0.995
    checkpoint_every: int = 3000
    threads: int = 1  # a tiny network gains nothing from a second thread, and loses much when the cores are busy
    data_set: str = ""  # one of DATA_SETS; empty: all of them


def train(config: Toy2dConfig) -> None:
    torch.manual_seed(config.seed)
    scheduler = DDPMScheduler(**SCHEDULE)

    def batch_loss(model: NoisePredictor, points: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # 1. a random t for every point and the noise to add (DDPM algorithm 1)
        noise = torch.randn(points.shape, generator=generator)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (points.shape[0],), generator=generator)
        # 2. x_t in one step, then the simple loss on the predicted noise
        noisy = scheduler.add_noise(points, noise, timesteps)
        return torch.nn.functional.mse_loss(model(noisy, timesteps), noise)

    def export(ema_model: NoisePredictor) -> None:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        weights = {name: weight.half().contiguous() for name, weight in ema_model.state_dict().items()}
        save_file(weights, Path(config.output_dir) / file_name(config.data_set), metadata={"data_set": config.data_set})

    train_loop(
        config,
        NoisePredictor(),
        next_batch=lambda step: torch.from_numpy(sample_data(config.data_set, config.batch_size, config.seed + step)),
        batch_loss=batch_loss,
        export=export,
    )


def main(config: Toy2dConfig) -> None:
    for data_set in [config.data_set] if config.data_set else DATA_SETS:
        slug = data_set.replace(" ", "-")
        paths = {name: getattr(config, name).format(data_set=slug) for name in ("checkpoint_path", "log_path")}
        train(replace(config, data_set=data_set, **paths))


if __name__ == "__main__":
    main(parse_config(Toy2dConfig, __doc__))
