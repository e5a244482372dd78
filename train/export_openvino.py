"""Export the embedded models' UNets as OpenVINO graphs, beside their weights (pipelines/engine/accelerated.py).

    python -m train.export_openvino                 # ~10 s; after a training changes the weights

Writes `assets/models/{shapes-sd,shapes-ddpm}/unet/openvino_model.{xml,bin,json}`: the UNet's plain call traced in
float32 with a free batch dimension, the prompt's length in tokens (the latent model) and the SHA-256 of the weights
it was traced from. The app uses a graph on a CPU only while that digest matches (`accelerated.why_not`); retrained
weights without a new export run in torch. Not a training: CI never runs it, and its test exports a tiny random UNet
instead.
"""

from __future__ import annotations

import argparse

import torch
from diffusers import UNet2DConditionModel, UNet2DModel
from transformers import CLIPTokenizer

from pipelines.engine import accelerated
from pipelines.engine.catalogue import MODELS_DIR

EXPORTED = ("shapes-sd", "shapes-ddpm")  # the latent and the pixel model (not yet super-resolution's: issue 29)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(EXPORTED), choices=EXPORTED)
    args = parser.parse_args()
    torch.manual_seed(0)  # the traced example's values (the graph does not depend on them)
    for model in args.models:
        folder = MODELS_DIR / model / "unet"
        tokenizer = MODELS_DIR / model / "tokenizer"
        unet_class = UNet2DConditionModel if tokenizer.is_dir() else UNet2DModel
        unet = unet_class.from_pretrained(folder, use_safetensors=True)
        tokens = CLIPTokenizer.from_pretrained(tokenizer).model_max_length if tokenizer.is_dir() else None
        print(f"{model}: {accelerated.export(unet, folder, tokens)}")


if __name__ == "__main__":
    main()
