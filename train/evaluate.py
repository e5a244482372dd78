"""Score generated samples of the shapes world: how many are clean, and which colours and shapes appear.

    python -m train.evaluate --data --samples 500                  # sanity check: the data scores ~100% clean
    python -m train.evaluate --model assets/models/shapes-ddpm --samples 256 --scheduler DDIM --steps 25 --seed 0
    python -m train.evaluate ... --json artifacts/eval.json        # also write the figures as JSON
    python -m train.evaluate --plain --steps 100 --batch-size 64   # plain DDPMPipeline, its own DDPM scheduler
    python -m train.evaluate --compare                              # one row per sampler: ~7 minutes on 1 core
    python -m train.evaluate --text-to-image --inpainting           # shapes-sd: see train/evaluate_prompts.py
    python -m train.evaluate --super-resolution [--all-settings]    # photo-sr-4x: train/evaluate_super_resolution.py

Each 32x32 image is parsed back into objects by `train.judge.analyse` (~2 ms an image); an image is *clean*
when it could have come from `train.shapes`. Sampling dominates the time: 256 samples of the app's default
(DPM-Solver++ SDE, 50 steps) take about 2 minutes on 2 CPU cores. Sample k is drawn with seed `seed + k`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from train.judge import score
from train.shapes import ShapesDataset


def sample_images(model: str, scheduler_name: str, steps: int, count: int, seed: int, batch_size: int) -> np.ndarray:
    """`count` samples of `model` as an (N, 32, 32, 3) uint8 array; sample k is drawn with seed `seed + k`."""
    from pipelines.unconditional import generate  # lazy: torch and diffusers are loaded only to sample

    batches = []
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        # wired to pipelines.unconditional.generate: keyword-only; image i of a call uses seed `seed + i`, so the
        # samples do not depend on the batch size; the last frame's x̂0 is the result, (batch, 32, 32, 3) uint8.
        frame = generate(model=model, scheduler=scheduler_name, steps=steps, seed=seed + start, batch_size=size)
        batches.append(frame.predicted_original)
    return np.concatenate(batches)


def sample_images_plain(model: str, steps: int, count: int, seed: int, batch_size: int) -> np.ndarray:
    """`count` samples from plain diffusers: `DDPMPipeline.from_pretrained(model)` with its own (DDPM) scheduler."""
    import torch
    from diffusers import DDPMPipeline

    pipeline = DDPMPipeline.from_pretrained(model)
    pipeline.set_progress_bar_config(disable=True)
    batches = []
    for start in range(0, count, batch_size):
        generator = [
            torch.Generator().manual_seed(seed + start + index) for index in range(min(batch_size, count - start))
        ]
        output = pipeline(batch_size=len(generator), generator=generator, num_inference_steps=steps, output_type="np")
        batches.append(np.round(output.images * 255).astype(np.uint8))
    return np.concatenate(batches)


def markdown_table(figures: dict) -> str:
    rows = ["| figure | value |", "| --- | --- |"]
    for name, value in figures.items():
        if isinstance(value, dict):  # counts: "red 12, blue 9"
            value = ", ".join(f"{key} {count}" for key, count in value.items()) or "none"
        rows.append(f"| {name.replace('_', ' ')} | {f'{value:.1%}' if name == 'clean_fraction' else value} |")
    return "\n".join(rows)


# Samplers compared by --compare: the app's default first, then others at the steps they need.
COMPARED_SAMPLERS = [
    ("DPM-Solver++", 25),
    ("UniPC", 25),
    ("DDIM", 50),
    ("Euler ancestral", 50),
    ("plain DDPMPipeline", 100),
]


def compare(model: str, samples: int, seed: int, batch_size: int) -> str:
    """A markdown table, one row per sampler of COMPARED_SAMPLERS, on the same seeds."""
    rows = ["| sampler | steps | clean | colours | shapes | seconds |", "| --- | --- | --- | --- | --- | --- |"]
    for scheduler, steps in COMPARED_SAMPLERS:
        started = time.perf_counter()
        if scheduler == "plain DDPMPipeline":  # diffusers' own call with the model's saved DDPM scheduler
            images = sample_images_plain(model, steps, samples, seed, batch_size=64)
        else:
            images = sample_images(model, scheduler, steps, samples, seed, batch_size)
        figures = score(images)
        rows.append(
            f"| {scheduler} | {steps} | {figures['clean_fraction']:.1%} of {samples} | {figures['colour_coverage']} "
            f"| {figures['shape_coverage']} | {time.perf_counter() - started:.0f} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="diffusers folder (default: assets/models/shapes-ddpm, or shapes-sd)")
    parser.add_argument("--data", action="store_true", help="score items of train.shapes.ShapesDataset instead")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument(
        "--scheduler", default="DPM-Solver++ SDE", help="a name of pipelines.defaults.schedulers.SCHEDULERS"
    )
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8, help="at most pipelines.unconditional.MAX_BATCH_SIZE")
    parser.add_argument("--plain", action="store_true", help="sample with plain DDPMPipeline (its DDPM scheduler)")
    parser.add_argument("--compare", action="store_true", help="one row per sampler of COMPARED_SAMPLERS")
    parser.add_argument("--threads", type=int, default=2, help="torch threads: one per core, never more")
    parser.add_argument("--json", help="where to write the figures as JSON")
    parser.add_argument("--text-to-image", action="store_true", help="prompt following (train.evaluate_prompts)")
    parser.add_argument("--inpainting", action="store_true", help="repainting masked objects (same)")
    parser.add_argument(
        "--super-resolution",
        action="store_true",
        help="photo-sr-4x on held-out photos (train.evaluate_super_resolution)",
    )
    parser.add_argument("--all-settings", action="store_true", help="with --super-resolution: more steps and etas")
    args = parser.parse_args()
    if not args.data:  # every run but --data samples with torch, on the pipelines' torch thread
        from pipelines.engine import catalogue, torch_thread
        from pipelines.unconditional import MAX_BATCH_SIZE

        if not (args.plain or 1 <= args.batch_size <= MAX_BATCH_SIZE):  # the app's limit; plain diffusers has none
            parser.error(f"--batch-size must be between 1 and {MAX_BATCH_SIZE} without --plain; got {args.batch_size}")
        torch_thread.set_num_threads(args.threads)
        latent = args.text_to_image or args.inpainting
        default = "photo-sr-4x" if args.super_resolution else "shapes-sd" if latent else "shapes-ddpm"
        # the app loads catalogue models only: a folder named here is this script's own, registered for it
        args.model = catalogue.register_folder(args.model or f"assets/models/{default}")
    if args.super_resolution:
        from train import evaluate_super_resolution

        settings = evaluate_super_resolution.COMPARED_SETTINGS if args.all_settings else None
        print(evaluate_super_resolution.report(args.model, settings))
        return
    if args.text_to_image or args.inpainting:
        from train import evaluate_prompts

        print(evaluate_prompts.text_to_image_report(args.model) if args.text_to_image else "", flush=True)
        print(evaluate_prompts.inpainting_report(args.model) if args.inpainting else "")
        return
    if args.compare:
        print(compare(args.model, args.samples, args.seed, args.batch_size))
        return
    if args.data:
        images = np.stack([ShapesDataset(args.seed)[index][0] for index in range(args.samples)])
        setup = {"source": f"ShapesDataset(seed={args.seed})"}
    else:
        from diffusers import DDPMPipeline

        from pipelines.engine import torch_thread

        # Loaded here with plain diffusers to fail early on a bad path and to record what was scored. All torch
        # work runs on the app's torch thread, as sampling does: torch on two threads is slow (README: Benchmarks).
        pipeline = torch_thread.run(DDPMPipeline.from_pretrained, args.model)
        parameters = sum(parameter.numel() for parameter in pipeline.unet.parameters())
        scheduler = "DDPMPipeline (DDPM)" if args.plain else args.scheduler
        setup = {"source": args.model, "parameters": parameters, "scheduler": scheduler, "steps": args.steps}
        del pipeline
        if args.plain:
            images = torch_thread.run(
                sample_images_plain, args.model, args.steps, args.samples, args.seed, args.batch_size
            )
        else:
            images = sample_images(args.model, args.scheduler, args.steps, args.samples, args.seed, args.batch_size)
    figures = {**setup, "seed": args.seed, **score(images)}
    print(markdown_table(figures))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
