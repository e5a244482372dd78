"""What a run's keepsakes (the trajectory animation, the contact sheet, the result PNG) cost at its end.

    python -m bench.animation                         # ~4 minutes on 2 CPU cores
    python -m bench.animation --out bench/results-animation.md

The two tabs' defaults, which a class runs most, then the extremes of what the app keeps: 1000 DDPM steps of 4
32-pixel images (Unconditional, shapes-ddpm: many small frames) and 20 DDIM steps of super-resolution to 512x512
(photo-sr-4x, a 128x128 photo: few large latent frames, whose x̂0 costs a VQ decode each). For each: the run's time
(frames consumed as `generate_steps` yields them, no x̂0 drawn on the way; the second of two runs, so no model load
counts); `pipelines.keepsakes.keepsakes` once, as the app calls it at the end of a run (latent x̂0 decoded within
DECODE_SHARE of the run's time, the later frames showing the latest decoded); what decoding every x̂0 of the
animation's frames would add; then the median of `--repeats` writes of the animation and of the contact sheet
(their x̂0 decoded already), and their sizes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from pipelines import super_resolution, text_to_image, unconditional
from pipelines.engine.frames import image_grid
from pipelines.keepsakes import files as keepsakes
from pipelines.keepsakes.animation import MAX_FRAMES, contact_sheet, has_estimate, subsample, trajectory_animation

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "examples" / "photo-chelsea.png"


def runs() -> dict[str, tuple[str, dict, Callable[[dict], list]]]:
    """setting -> (task, the handler's settings, the run)"""
    photo = Image.open(PHOTO).convert("RGB").resize((128, 128), Image.Resampling.BICUBIC)  # the largest input taken
    return {
        "Unconditional's default: DPM-Solver++ SDE 50 steps, 4 images of 32×32": (
            "unconditional",
            {"seed": 0, "batch_size": 4},
            lambda settings: list(unconditional.generate_steps(**settings)),
        ),
        "Text to image's default: DPM-Solver++ 25 steps, 4 images of 32×32": (
            "text_to_image",
            {"prompt": "a large red circle on the left", "seed": 0, "batch_size": 4},
            lambda settings: list(text_to_image.generate_steps(**settings)),
        ),
        "Unconditional: shapes-ddpm, DDPM 1000 steps, 4 images of 32×32": (
            "unconditional",
            {"model": "shapes-ddpm", "scheduler": "DDPM", "steps": 1000, "seed": 0, "batch_size": 4},
            lambda settings: list(unconditional.generate_steps(**settings)),
        ),
        "Super-resolution: photo-sr-4x, DDIM 20 steps, 128×128 → 512×512": (
            "super_resolution",
            {"model": super_resolution.DEFAULT_MODEL, "scheduler": "DDIM", "steps": 20, "seed": 0},
            lambda settings: list(super_resolution.generate_steps(image=photo, **settings)),
        ),
    }


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def row(setting: str, task: str, settings: dict, run: Callable[[dict], list], repeats: int, folder: Path) -> str:
    run(settings)  # loads the model: not counted
    started = time.perf_counter()
    frames = run(settings)
    run_seconds = time.perf_counter() - started
    started = time.perf_counter()
    keepsakes.keepsakes(task, settings, frames, image_grid(frames[-1].predicted_original))
    keepsakes_seconds = time.perf_counter() - started
    chosen = subsample(frames, MAX_FRAMES)
    decoded = sum(has_estimate(frame) for frame in chosen)
    started = time.perf_counter()
    for frame in chosen:
        frame.predicted_original  # noqa: B018 - a latent frame decodes its x̂0 on first use
    decode_seconds = time.perf_counter() - started
    animation, sheet = folder / "trajectory.webp", folder / "contact-sheet.png"
    animation_seconds = median_seconds(lambda: trajectory_animation(chosen, animation), repeats)
    sheet_seconds = median_seconds(lambda: contact_sheet(chosen, sheet), repeats)
    with Image.open(animation) as animated:
        width, height = animated.size
    return (
        f"| {setting} | {run_seconds:.1f} s | {keepsakes_seconds:.2f} s ({100 * keepsakes_seconds / run_seconds:.1f} %)"
        f", x̂0 of {decoded} frames | {len(chosen)} of {len(frames)}, {width}×{height} | "
        f"+{decode_seconds:.2f} s ({100 * decode_seconds / run_seconds:.0f} %) | "
        f"{animation_seconds:.2f} s, {animation.stat().st_size / 1e6:.2f} MB | "
        f"{sheet_seconds:.2f} s, {sheet.stat().st_size / 1e6:.2f} MB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="writes of each file timed (median reported)")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    lines = [
        "| run | run time | keepsakes at its end (share of the run) | frames in the animation | "
        "decoding every x̂0 would add | animation (WebP) | contact sheet (PNG) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for setting, (task, settings, run) in runs().items():
            lines.append(row(setting, task, settings, run, args.repeats, Path(folder)))
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(f"\n{table}")
    if args.out:
        Path(args.out).write_text(f"`python -m bench.animation --repeats {args.repeats}`\n\n{table}\n")


if __name__ == "__main__":
    main()
