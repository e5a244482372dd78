"""The most batching can give the load test's class: its UNet work alone, one request at a time against batched.

    flock /tmp/heavy.lock python -m bench.ceiling --students 30

Runs one Unconditional and one Text to image request on the tabs' defaults (as `bench/load.py`'s students do),
records the inputs of every UNet call they make, and times each model's forward pass on those inputs: as one
request makes it (the tab's batch of 4 images; 8 rows with guidance) and with the calls of k requests concatenated
(k = 2, 4, 8, 16, 32 requests, up to `--max-rows` rows). The UNet time of N students one after another is
N/2 x (steps x one call) per model; batched, each model's calls run at the cheapest rows per image measured. Their
ratio is a ceiling on the load test's speedup (`bench/load.py`): it counts only the UNet, the one part batching
shares, as if everything else (schedulers, previews, text encoder, decodes, the web server) cost nothing.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.load import PROMPTS, TAB_BATCH_SIZE
from pipelines import text_to_image, unconditional
from pipelines.engine import batching, torch_thread
from pipelines.engine.loading import load_pipeline

REQUESTS_PER_CALL = [1, 2, 4, 8, 16, 32]


def recorded_calls(run: object, unet: torch.nn.Module) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) of every call of `unet` while the run's frames are consumed."""
    calls = []
    hook = unet.register_forward_pre_hook(lambda _, args, kwargs: calls.append((args, kwargs)), with_kwargs=True)
    try:
        for _ in run:
            pass
    finally:
        hook.remove()
    return calls


def repeated(value: object, times: int) -> object:
    """A call's input as `times` requests' calls concatenated (a scalar timestep stays as it is)."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return torch.cat([value] * times)
    return value


@torch.no_grad()
def seconds_per_call(unet: torch.nn.Module, call: tuple[tuple, dict], times: int, repeats: int) -> float:
    """The shortest of `repeats` timings of one forward pass of `times` requests' copies of `call` (the least
    disturbed by the machine's other work)."""
    args, kwargs = call
    args = tuple(repeated(value, times) for value in args)
    kwargs = {name: repeated(value, times) for name, value in kwargs.items()}
    for _ in range(2):  # warm up this shape
        unet(*args, **kwargs)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        unet(*args, **kwargs)
        timings.append(time.perf_counter() - started)
    return min(timings)


def model_rows(name: str, unet: torch.nn.Module, calls: list, max_rows: int, repeats: int) -> tuple[float, float]:
    """Print a row per batch size; return (seconds of one request's calls alone, at the best batch per request)."""
    middle = calls[len(calls) // 2]  # a call from mid-run: every call of a request has the same shapes
    rows_per_request = middle[0][0].shape[0]
    alone = best = None
    for requests in REQUESTS_PER_CALL:
        if requests * rows_per_request > max_rows:
            break
        seconds = seconds_per_call(unet, middle, requests, repeats)
        alone = alone or seconds
        best = min(best or seconds, seconds / requests)
        print(
            f"| {name} | {requests} | {requests * rows_per_request} | {1000 * seconds:.1f} ms "
            f"| {1000 * seconds / requests:.2f} ms | {alone / (seconds / requests):.2f}x |",
            flush=True,
        )
    return len(calls) * alone, len(calls) * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--max-rows", type=int, default=batching.MAX_BATCH * 2, help="largest forward pass timed")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if not 2 <= args.students <= 60 or not 1 <= args.repeats <= 50 or not 1 <= args.max_rows <= 512:
        parser.error("--students 2-60, --repeats 1-50 and --max-rows 1-512")
    runs = {
        "Unconditional": (
            load_pipeline(unconditional.DEFAULT_MODEL, unconditional.PIPELINE_CLASSES).unet,
            lambda: unconditional.generate_steps(seed=0, batch_size=TAB_BATCH_SIZE),
        ),
        "Text to image": (
            load_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.PIPELINE_CLASSES).unet,
            lambda: text_to_image.generate_steps(prompt=PROMPTS[0], seed=1, batch_size=TAB_BATCH_SIZE),
        ),
    }
    print("| tab's model | requests in the pass | rows | forward pass | per request | gain |")
    print("| --- | --- | --- | --- | --- | --- |")
    one_after_another = batched = 0.0
    for name, (unet, run) in runs.items():
        calls = recorded_calls(run(), unet)
        alone, best = torch_thread.run(model_rows, name, unet, calls, args.max_rows, args.repeats)
        one_after_another += alone
        batched += best
    half = args.students / 2
    print(
        f"\nUNet time of {args.students} students (half each tab): one after another {half * one_after_another:.1f} s, "
        f"batched at the best size {half * batched:.1f} s: ceiling {one_after_another / batched:.2f}x"
    )


if __name__ == "__main__":
    main()
