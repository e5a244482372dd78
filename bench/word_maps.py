"""What "Where each word looks" costs: a Text to image run with word maps against the same run without.

    python -m bench.word_maps                  # ~4 minutes on 2 busy CPU cores; prints two markdown tables
    python -m bench.word_maps --rounds 8       # more rounds, tighter figures

Both calls are `pipelines.text_to_image.generate_steps` consumed to the end (the embedded model, the app's default
scheduler, steps and guidance): the maps are recorded at every step either way they are shown. Rounds alternate
which call goes first, so that a machine shared with others (this one) slows both alike; the table gives the
medians and the ratio of the medians, and the range of the rounds' ratios. A second table times what maps add where
they add it, one UNet call (guided: two rows per image), recording or not, alternating call by call: finer grained,
so less at the mercy of other users of the machine than whole runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque

UNET_CALLS = 40  # of each kind, alternating
SETTINGS = [("DPM-Solver++", 25, 4), ("DPM-Solver++", 25, 1)]  # (scheduler, steps, batch size): the app's default first
PROMPT = "a red circle on the left and a blue square on the right"


def seconds(with_word_maps: bool, scheduler: str, steps: int, batch_size: int) -> float:
    from pipelines import text_to_image

    started = time.perf_counter()
    run = text_to_image.generate_steps(
        prompt=PROMPT, scheduler=scheduler, steps=steps, batch_size=batch_size, with_word_maps=with_word_maps
    )
    deque(run, maxlen=1)
    return time.perf_counter() - started


def unet_call_seconds(images: int) -> tuple[float, float]:
    """Medians of one guided UNet call of `images` images, without and with word maps recorded."""
    import torch

    from pipelines import text_to_image
    from pipelines.engine import word_maps
    from pipelines.engine.loading import load_pipeline

    pipeline = load_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.PIPELINE_CLASSES)
    unet = pipeline.unet
    word_maps.install(unet)
    size = unet.config.sample_size
    with torch.no_grad():
        prompt, empty = pipeline.encode_prompt(PROMPT, unet.device, images, True)
        conditioning = torch.cat([empty, prompt])
        latents = torch.randn(2 * images, unet.config.in_channels, size, size)
        timestep = torch.tensor([500])
        recorder = word_maps.WordMapRecorder(word_maps.prompt_words(pipeline.tokenizer, PROMPT), guided=True)
        timed: dict[bool, list[float]] = {False: [], True: []}
        for call in range(2 * UNET_CALLS + 1):
            recorded = call % 2 == 1
            rows = [recorder.rows(0, 2 * images)] if recorded else []
            started = time.perf_counter()
            with word_maps.recording(rows, (size, size)):
                unet(latents, timestep, encoder_hidden_states=conditioning)
            if call:  # the first is a warm-up
                timed[recorded].append(time.perf_counter() - started)
    return statistics.median(timed[False]), statistics.median(timed[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    arguments = parser.parse_args()
    seconds(True, "DPM-Solver++", 2, 1)  # load the model, install the processors
    print("| one guided UNet call | maps off | maps on | on / off |\n| --- | --- | --- | --- |")
    for images in (1, 4):
        off, on = unet_call_seconds(images)
        print(f"| {images} image(s), {2 * images} rows | {off * 1000:.1f} ms | {on * 1000:.1f} ms | {on / off:.2f}× |")
    print()
    print("| setting | rounds | maps off | maps on | on / off | rounds' on / off |")
    print("| --- | --- | --- | --- | --- | --- |")
    for scheduler, steps, batch_size in SETTINGS:
        timed: dict[bool, list[float]] = {False: [], True: []}
        for round_number in range(arguments.rounds):
            for with_word_maps in (False, True) if round_number % 2 == 0 else (True, False):
                timed[with_word_maps].append(seconds(with_word_maps, scheduler, steps, batch_size))
        off, on = statistics.median(timed[False]), statistics.median(timed[True])
        ratios = [maps_on / maps_off for maps_on, maps_off in zip(timed[True], timed[False])]
        print(
            f"| {scheduler}, {steps} steps, batch {batch_size} | {arguments.rounds} | {off:.2f} s | {on:.2f} s | "
            f"{on / off:.2f}× | {min(ratios):.2f}–{max(ratios):.2f}× |"
        )


if __name__ == "__main__":
    main()
