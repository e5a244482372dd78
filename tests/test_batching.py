"""pipelines/engine/batching.py on tiny random models: requests run together give their solo images up to float
rounding, join and leave mid-run, and never mix models. ~15 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from pipelines import text_to_image, unconditional
from pipelines.engine import batching, torch_thread

BOUND = batching.ROUNDING_BOUND


def mean_difference(images: np.ndarray, solo: np.ndarray) -> float:
    return float(np.abs(images.astype(float) - solo.astype(float)).mean())


def run_together(starts: list[Callable[[], Iterator]], stop_after: dict[int, int] | None = None) -> list:
    """Start every run while the torch thread is held, so that they begin together; consume each on its own thread.

    `stop_after` maps a run's index to the frame after which its consumer closes it (the user pressed Stop).
    Returns each run's last frame received.
    """
    stop_after = stop_after or {}
    queued_before = len(torch_thread._streams) + len(torch_thread._long_jobs)
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait()

    blocker = torch_thread.start(hold)
    held.wait(timeout=60)
    last: list = [None] * len(starts)
    firsts = [threading.Event() for _ in starts]

    def consume(index: int) -> None:
        run = starts[index]()
        try:
            for count, frame in enumerate(run, start=1):
                firsts[index].set()
                last[index] = frame
                if stop_after.get(index) == count:
                    break
        finally:
            firsts[index].set()
            run.close()

    consumers = [threading.Thread(target=consume, args=(index,)) for index in range(len(starts))]
    for consumer in consumers:
        consumer.start()
    deadline = time.monotonic() + 60
    while len(torch_thread._streams) + len(torch_thread._long_jobs) < queued_before + len(starts):
        assert time.monotonic() < deadline, "the runs were not queued"
        time.sleep(0.001)
    release.set()
    blocker.result()
    for consumer in consumers:
        consumer.join(timeout=120)
    return last


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict:
    """batching.statistics, reset for one test, batching on (whatever DIFFUSION_PLAYGROUND_BATCHING says)."""
    monkeypatch.setattr(batching, "ENABLED", True)
    for name in batching.statistics:
        batching.statistics[name] = 0
    return batching.statistics


def unconditional_run(model: str, seed: int, steps: int = 12, scheduler: str = "DPM-Solver++ SDE", batch_size: int = 2):
    return lambda: unconditional.generate_steps(model, scheduler, steps, seed, batch_size)


def text_to_image_run(model: str, prompt: str, seed: int, steps: int = 8, batch_size: int = 2):
    return lambda: text_to_image.generate_steps(model, prompt, "", 5.0, "DPM-Solver++", steps, seed, batch_size)


def solo(start: Callable[[], Iterator]) -> np.ndarray:
    *_, last = start()
    return last.predicted_original


def test_requests_run_together_give_their_solo_images(tiny_ddpm: str, tiny_sd: str, counted: dict) -> None:
    runs = [
        unconditional_run(tiny_ddpm, seed=1),
        unconditional_run(tiny_ddpm, seed=5, scheduler="Euler ancestral", steps=7),  # other sampler, other t
        text_to_image_run(tiny_sd, "a small red circle", seed=2),
        text_to_image_run(tiny_sd, "a blue square on the left", seed=9),
    ]
    alone = [solo(run) for run in runs]
    counted.update(largest_batch=0)
    together = run_together(runs)
    for frame, images in zip(together, alone):
        assert frame.is_last and frame.predicted_original.shape == images.shape
        assert mean_difference(frame.predicted_original, images) <= BOUND
    assert counted["largest_batch"] == 8  # both text-to-image requests: 2 images each, doubled by guidance
    assert not np.array_equal(together[0].predicted_original, together[1].predicted_original)


def test_a_request_joins_mid_run_and_one_stopped_early_leaves_the_others_unchanged(
    tiny_ddpm: str, counted: dict
) -> None:
    first, joining, stopped = (unconditional_run(tiny_ddpm, seed, steps=90) for seed in (3, 4, 6))
    alone = [solo(first), solo(joining)]
    counted.update(largest_batch=0)
    run = first()
    frames = [next(run) for _ in range(10)]  # half-way, or less: the loop runs ahead of its consumer
    last = run_together([joining, stopped], stop_after={1: 2})
    frames.extend(run)
    assert counted["largest_batch"] == 6  # all three at once: the first was still running when the others joined
    assert [frame.step for frame in frames] == list(range(1, 91))
    assert mean_difference(frames[-1].predicted_original, alone[0]) <= BOUND
    assert last[0].is_last and mean_difference(last[0].predicted_original, alone[1]) <= BOUND
    assert last[1].step == 2  # stopped by its user after its second frame


def test_a_new_requests_first_call_goes_before_the_calls_that_waited_longer(
    tiny_ddpm: str, tiny_shapes_ddpm: str, counted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request joining a running class gets its first frame before the others' next steps: its first UNet call
    runs before an older call of another model (another group), which would otherwise go first."""
    passes: list[tuple[int, bool, bool]] = []  # (model, a first call among them, an older call of another waiting)
    run_calls = batching._run

    def recorded(calls: list) -> None:
        others = [call for call in batching._waiting if call.key != calls[0].key]
        older = any(other.arrival < min(call.arrival for call in calls) for other in others)
        passes.append((id(calls[0].unet), any(call.first for call in calls), older))
        run_calls(calls)

    monkeypatch.setattr(batching, "_run", recorded)
    running, joining = unconditional_run(tiny_ddpm, seed=3, steps=90), unconditional_run(tiny_shapes_ddpm, seed=4)
    alone = solo(joining)
    passes.clear()
    run = running()
    frames = [next(run) for _ in range(10)]  # its loop runs ahead: it is mid-run when the other joins
    last = run_together([joining])
    frames.extend(run)
    joined = next(index for index, (model, first, _) in enumerate(passes) if first and model != passes[0][0])
    assert passes[joined][2], "no older call of the running request waited: the test did not test the order"
    assert len(frames) == 90 and mean_difference(last[0].predicted_original, alone) <= BOUND


def test_two_models_at_once_never_share_a_forward_pass(
    tiny_ddpm: str, tiny_shapes_ddpm: str, counted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same image shapes, other weights: a pass mixing them would give the wrong images."""
    runs = [unconditional_run(model, seed=7, steps=6) for model in (tiny_ddpm, tiny_shapes_ddpm, tiny_ddpm)]
    alone = [solo(run) for run in runs]
    monkeypatch.setattr(batching, "MAX_BATCH", 3)  # rows: two requests of 2 images do not fit together
    counted.update(largest_batch=0)
    together = run_together(runs)
    for frame, images in zip(together, alone):
        assert mean_difference(frame.predicted_original, images) <= BOUND
    assert counted["largest_batch"] == 2


def test_batching_off_runs_every_call_alone_bit_identical(
    tiny_ddpm: str, counted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "ENABLED", False)
    runs = [unconditional_run(tiny_ddpm, seed) for seed in (1, 2)]
    alone = [solo(run) for run in runs]
    together = run_together(runs)
    assert all(np.array_equal(frame.predicted_original, images) for frame, images in zip(together, alone))
    assert counted["forward_passes"] == 0
    assert batching.batched(torch_thread) is torch_thread  # nothing is wrapped


def test_a_loop_whose_model_is_not_batched_takes_turns_with_the_batches(
    tiny_ddpm: str, counted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop that never waits at a batched UNet call (an unwrapped model: the latent super-resolution loop) gets
    one step per round, so the others' batches run in between: it does not run all its steps first."""
    order: list[str] = []
    run_batch = batching.run_batch

    def recorded_batch() -> None:
        order.append("batch")
        run_batch()

    monkeypatch.setattr(batching, "run_batch", recorded_batch)

    def unbatched_loop() -> Iterator[int]:
        for step in range(8):
            order.append("unbatched")
            yield step

    run_together([unconditional_run(tiny_ddpm, seed=0, steps=6), lambda: torch_thread.steps(unbatched_loop())])
    while_batching = order[: len(order) - order[::-1].index("batch")]  # up to the batched run's last forward pass
    assert while_batching.count("batch") == 6
    assert ["unbatched", "unbatched"] not in [
        while_batching[index : index + 2] for index in range(len(while_batching) - 1)
    ]
