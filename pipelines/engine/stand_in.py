"""A module standing in for a UNet: its calls go through the stand-in's `forward`, everything else a pipeline asks of
it (`config`, `dtype`, `device`, ...) is the wrapped UNet's. Batching's (`batching.BatchedUNet`) and the OpenVINO
graphs' (`accelerated.AcceleratedUNet`) are two, and one can wrap the other."""

from __future__ import annotations

import torch


class StandIn(torch.nn.Module):
    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def __getattr__(self, name: str) -> object:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["unet"], name)
