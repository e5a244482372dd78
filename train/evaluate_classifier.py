"""How good the guiding classifier is, and how well it steers shapes-ddpm (classifier guidance).

    python -m train.evaluate_classifier                        # accuracy on held-out images, clean and noisy: ~10 s
    python -m train.evaluate_classifier --guidance --samples 32 # each target's rate, guided vs not: ~3 minutes

Accuracy: held-out images are items of `ShapesDataset(seed=1)` (training uses seed 0), given to the classifier
clean (t = 0, no noise) and forward-noised at several t with shapes-ddpm's schedule; an image counts as right
for colours when the set of colours the classifier says are there (p > 0.5) is exactly the set drawn, the same
for shapes. Guidance: for every target word, `--samples` images with seeds `seed`, `seed + 1`, ... are drawn
guided at `--guidance-scale` and, in the same batch, without guidance (the base rate). They are scored by
the project's own checker, `train.evaluate.analyse`, never by the guiding classifier: a sample has the target
when it is clean (it could have come from the shapes world) and one of its objects has that colour or shape.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pipelines.models.noisy_classifier import DEFAULT_CLASSIFIER, NoisyClassifier, load_classifier
from train.judge import analyse
from train.shapes import COLOURS, SHAPES, ShapesDataset
from train.train_classifier import labelled_batch, noise_schedule, noised

HELD_OUT_SEED = 1
NOISE_LEVELS = (0, 100, 250, 500, 750, 900)  # t; 0 is the clean image itself


@torch.no_grad()
def accuracy(classifier: NoisyClassifier, count: int = 512, timestep: int = 0, seed: int = 0) -> dict[str, float]:
    """Fractions of `count` held-out images whose colour set and shape set the classifier gets exactly right."""
    images, labels = labelled_batch(ShapesDataset(HELD_OUT_SEED), 0, count)
    if timestep > 0:
        generator = torch.Generator().manual_seed(seed)
        images, _ = noised(noise_schedule(), images, generator, torch.full((count,), timestep))
    predicted = classifier.label_logits(images, torch.tensor(timestep)) > 0  # p > 0.5
    colours = len(classifier.config.colours)
    right = predicted == labels.bool()
    return {
        "colours": right[:, :colours].all(1).float().mean().item(),
        "shapes": right[:, colours:].all(1).float().mean().item(),
    }


def accuracy_table(classifier: NoisyClassifier, count: int) -> str:
    rows = ["| t | colours right | shapes right |", "| --- | --- | --- |"]
    for timestep in NOISE_LEVELS:
        figures = accuracy(classifier, count, timestep)
        label = "0 (clean)" if timestep == 0 else str(timestep)
        rows.append(f"| {label} | {figures['colours']:.1%} | {figures['shapes']:.1%} |")
    return "\n".join(rows)


def has_target(image: np.ndarray, target: str) -> bool:
    """The checker's verdict: a clean shapes-world image with an object of the target colour or shape."""
    analysis = analyse(image)
    return analysis.clean and any(target in (obj.colour, obj.shape) for obj in analysis.objects)


def guidance_rates(target: str, guidance_scale: float, samples: int, seed: int, batch_size: int, **options) -> dict:
    """Target rate with and without guidance over `samples` seeds, and the guided samples' clean fraction."""
    from pipelines.classifier_guidance import generate

    guided, unguided = [], []
    for start in range(0, samples, batch_size):
        size = min(batch_size, samples - start)
        frame = generate(target=target, guidance_scale=guidance_scale, seed=seed + start, batch_size=size, **options)
        guided.append(frame.predicted_original)
        unguided.append(frame.unguided_original)
    guided_images, unguided_images = np.concatenate(guided), np.concatenate(unguided)
    return {
        "target": target,
        "guided": float(np.mean([has_target(image, target) for image in guided_images])),
        "unguided": float(np.mean([has_target(image, target) for image in unguided_images])),
        "guided_clean": float(np.mean([analyse(image).clean for image in guided_images])),
    }


def guidance_table(rates: list[dict], samples: int) -> str:
    rows = [
        f"| target | with guidance (of {samples}) | without (base rate) | guided samples clean |",
        "| --- | --- | --- | --- |",
    ]
    for row in rates:
        rows.append(f"| {row['target']} | {row['guided']:.0%} | {row['unguided']:.0%} | {row['guided_clean']:.0%} |")
    for kind, words in (("colours", COLOURS), ("shapes", SHAPES)):
        chosen = [row for row in rates if row["target"] in words]
        if chosen:
            mean = {key: np.mean([row[key] for row in chosen]) for key in ("guided", "unguided", "guided_clean")}
            rows.append(
                f"| **all {kind}** | {mean['guided']:.0%} | {mean['unguided']:.0%} | {mean['guided_clean']:.0%} |"
            )
    return "\n".join(rows)


def main() -> None:
    from pipelines.defaults.classifier_guidance import DEFAULT_GUIDANCE_SCALE, DEFAULT_SCHEDULER, DEFAULT_STEPS, targets
    from pipelines.engine import torch_thread

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=512, help="held-out images for the accuracy")
    parser.add_argument("--guidance", action="store_true", help="measure guidance instead of accuracy")
    parser.add_argument("--guidance-scale", type=float, default=DEFAULT_GUIDANCE_SCALE)
    parser.add_argument("--targets", default="", help="comma-separated target words (default: all)")
    parser.add_argument("--samples", type=int, default=32, help="samples per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--scheduler", default=DEFAULT_SCHEDULER)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--threads", type=int, default=2, help="torch threads: one per core, never more")
    parser.add_argument("--json", help="where to write the figures as JSON")
    args = parser.parse_args()
    torch_thread.set_num_threads(args.threads)
    if not args.guidance:
        print(torch_thread.run(lambda: accuracy_table(load_classifier(DEFAULT_CLASSIFIER), args.count)))
        return
    chosen = [word.strip() for word in args.targets.split(",") if word.strip()] or list(targets())
    rates = []
    for target in chosen:
        started = time.perf_counter()
        options = {"scheduler": args.scheduler, "steps": args.steps}
        rates.append(guidance_rates(target, args.guidance_scale, args.samples, args.seed, args.batch_size, **options))
        print(f"{target}: {rates[-1]} ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"guidance scale {args.guidance_scale:g}, {args.scheduler} {args.steps} steps, seeds {args.seed}+")
    print(guidance_table(rates, args.samples))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"guidance_scale": args.guidance_scale, "samples": args.samples, "rates": rates}, file, indent=2)


if __name__ == "__main__":
    main()
