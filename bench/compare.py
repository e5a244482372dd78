"""What the Compare tab's default grids cost, cell by cell, on the embedded models.

    python -m bench.compare                                  # ~1 minute on 2 CPU cores
    python -m bench.compare --out bench/results-compare.md --grids docs/images

Runs the guidance sweep (shapes-sd, 25 steps of DPM-Solver++, scales 1, 2, 4, 8, 16) and the sampler comparison
of each task with its default samplers (`pipelines.grids.DEFAULT_SAMPLERS`), seed 0, each after one warm-up cell
that loads the model. Each cell's time is its run's own (`Frame.elapsed` of its last step), as the grid labels it.
"""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path

from PIL import Image

from pipelines import grids, text_to_image

PROMPT = "a large red circle on the left"


def grids_to_run() -> dict[str, object]:
    return {
        "guidance sweep (shapes-sd, DPM-Solver++ 25)": lambda: grids.guidance_sweep_steps(
            text_to_image.DEFAULT_MODEL, PROMPT, 0, grids.DEFAULT_SCALES
        ),
        "sampler comparison, Unconditional (shapes-ddpm)": lambda: grids.sampler_comparison_steps(
            "Unconditional", None, "", 0, grids.DEFAULT_SAMPLERS["Unconditional"]
        ),
        "sampler comparison, Text to image (shapes-sd, guidance 5)": lambda: grids.sampler_comparison_steps(
            "Text to image", None, PROMPT, 0, grids.DEFAULT_SAMPLERS["Text to image"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the table here (markdown)")
    parser.add_argument("--grids", type=Path, help="save each grid as a PNG in this folder")
    arguments = parser.parse_args()
    deque(grids.guidance_sweep_steps(text_to_image.DEFAULT_MODEL, PROMPT, 0, "1", "DDIM", 2), maxlen=0)  # loads
    deque(grids.sampler_comparison_steps("Unconditional", None, "", 0, "DDIM 2"), maxlen=0)
    lines = ["| grid | cell | seconds |", "|---|---|---:|"]
    for name, start in grids_to_run().items():
        last = deque(start(), maxlen=1)[0]
        for label, seconds in zip(last.labels, last.seconds):
            lines.append(f"| {name} | {label.replace(chr(10), ', ')} | {seconds:.2f} |")
        lines.append(f"| {name} | **all {len(last.labels)} cells** | **{sum(last.seconds):.2f}** |")
        print(lines[-1], flush=True)
        if arguments.grids:
            arguments.grids.mkdir(parents=True, exist_ok=True)
            slug = name.split(" (")[0].replace(",", "").replace(" ", "-").lower()
            Image.fromarray(grids.grid_image(last.labels, last.images, last.seconds)).save(
                arguments.grids / f"compare-{slug}.png"
            )
    table = "\n".join(lines) + "\n"
    print(table)
    if arguments.out:
        arguments.out.write_text(f"`python -m bench.compare`, seed 0, prompt “{PROMPT}”:\n\n{table}")


if __name__ == "__main__":
    main()
