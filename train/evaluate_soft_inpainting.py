"""How much soft-mask inpainting (Differential Diffusion) changes a picture at each grey level of the mask.

    python -m train.evaluate_soft_inpainting       # shapes-sd, 4 example scenes x 8 seeds: ~2 minutes on 2 cores
    python -m train.evaluate_soft_inpainting --seeds 16 --model path/or/hub-id

With the app's defaults (DPM-Solver++, 25 steps, prompt "a green triangle", no zoom) at guidance 5 (the
default) and 1 (none), on the example scenes at the model's size. The change of a pixel is the largest of
|result - original| over its three channels (the app's change map), 0..255. Figures, averaged over scenes,
seeds and pixels:
- whole image at one level: the mean change and the share of pixels changed by more than 32, at strength 0.5
  (which caps the level: a pixel changes as at min(level, strength)), and beside it binary inpainting of the
  whole image at strength = level (image to image), which a uniform soft mask should match;
- the autoencoder's round trip (encode, decode): what any level above 0 costs before the diffusion changes
  anything, since such pixels are decoded, not pasted;
- one mask of four vertical bands at levels 0, 0.25, 0.5 and 1, in its four rotations (each level on each band
  once): the mean change per level inside one picture (level 0: kept exactly).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipelines import inpainting
from pipelines.engine import torch_thread
from pipelines.engine.frames import to_uint8_images
from pipelines.engine.loading import load_pipeline

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
PROMPT = "a green triangle"
LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0)
BAND_LEVELS = (0.0, 0.25, 0.5, 1.0)
CHANGED = 32  # of 255: a pixel changed visibly


def scenes(size: int) -> list[Image.Image]:
    return [
        Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        for path in sorted(EXAMPLES_DIR.glob("scene-*.png"))
    ]


def change_maps(
    model: str,
    scene: Image.Image,
    levels: np.ndarray,
    seeds: int,
    guidance_scale: float,
    strength: float = 1.0,
    soft: bool = True,
) -> np.ndarray:
    """(seeds, height, width) changes of one run of `seeds` images (seeds 0..seeds-1)."""
    mask = Image.fromarray(np.round(levels * 255).astype(np.uint8), "L")
    settings = {"prompt": PROMPT, "guidance_scale": guidance_scale, "strength": strength, "batch_size": seeds}
    last = inpainting.generate(model=model, image=scene, mask=mask, zoom=False, soft=soft, **settings)
    return last.change_maps[..., 0].astype(np.float64)


def round_trip_change(model: str, scene: Image.Image) -> np.ndarray:
    """The change the autoencoder alone makes: the scene encoded (the posterior's mean) and decoded."""
    vae = load_pipeline(model, inpainting.PIPELINE_CLASSES).vae
    pixels = torch.from_numpy(np.asarray(scene, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]

    def round_trip() -> np.ndarray:
        with torch.no_grad():
            return to_uint8_images(vae.decode(vae.encode(pixels).latent_dist.mode()).sample)[0]

    decoded = torch_thread.run(round_trip)
    return np.abs(decoded.astype(int) - np.asarray(scene, dtype=int)).max(axis=-1).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=inpainting.DEFAULT_MODEL)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    size, _ = inpainting.model_size(args.model)
    examples = scenes(size)
    print(f"{args.model}: {len(examples)} scenes x {args.seeds} seeds, {size}x{size}, prompt “{PROMPT}”\n")
    print("Whole image at one level: mean change (0..255) and pixels changed by more than 32")
    print("| level | guidance 5 | > 32 | guidance 5, strength 0.5 | binary, strength = level | guidance 1 | > 32 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    round_trip = np.mean([round_trip_change(args.model, scene).mean() for scene in examples])
    print(f"| autoencoder round trip | {round_trip:.1f} | | | | {round_trip:.1f} | |")
    whole = np.ones((size, size))
    for level in LEVELS:
        uniform = np.full((size, size), level)
        cells = []
        for guidance_scale, levels, strength, soft in (
            (5.0, uniform, 1.0, True),
            (5.0, uniform, 0.5, True),
            (5.0, whole, level, False),
            (1.0, uniform, 1.0, True),
        ):
            run = (levels, args.seeds, guidance_scale, strength, soft)
            changes = np.stack([change_maps(args.model, scene, *run) for scene in examples])
            cells.append(f"{changes.mean():.1f}")
            if soft and strength == 1.0:
                cells.append(f"{100 * (changes > CHANGED).mean():.0f} %")
        print(f"| {level:g} | " + " | ".join(cells) + " |")

    band_width = size // len(BAND_LEVELS)
    print("\nFour bands in one mask (each level on each band once): mean change per level")
    print("| guidance | " + " | ".join(f"level {level:g}" for level in BAND_LEVELS) + " |")
    print("| --- |" + " --- |" * len(BAND_LEVELS))
    for guidance_scale in (5.0, 1.0):
        per_level: dict[float, list[float]] = {level: [] for level in BAND_LEVELS}
        for rotation in range(len(BAND_LEVELS)):
            order = np.roll(BAND_LEVELS, rotation)
            levels = np.repeat(order, band_width)[None].repeat(size, axis=0)
            for scene in examples:
                changes = change_maps(args.model, scene, levels, args.seeds, guidance_scale)
                for band, level in enumerate(order):
                    per_level[level].append(changes[:, :, band * band_width : (band + 1) * band_width].mean())
        means = " | ".join(f"{np.mean(per_level[level]):.1f}" for level in BAND_LEVELS)
        print(f"| {guidance_scale:g} | {means} |")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
