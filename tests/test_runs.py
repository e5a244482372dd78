"""runs.py and the time limit: one run per (session, tab), Stop for its own key only, Generate after Stop."""

from __future__ import annotations

import threading

import pytest

from pipelines.engine import limits
from tabs import unconditional
from ui import replays, runs, stream


def test_stop_reaches_only_the_run_of_its_own_session_and_tab() -> None:
    with (
        runs.started("a", "unconditional") as first,
        runs.started("a", "text_to_image") as second,
        runs.started("b", "unconditional") as third,
    ):
        assert runs.stop("a", "unconditional")
        assert runs.stop_requested(first)
        assert not runs.stop_requested(second) and not runs.stop_requested(third)
    assert not runs.stop("a", "unconditional")  # nothing runs: a Stop is not kept for the next run
    with runs.started("a", "unconditional") as again:
        assert not runs.stop_requested(again)


def test_a_new_run_of_the_same_tab_stops_the_last_and_waits_for_it() -> None:
    order: list[str] = []
    started = threading.Event()

    def old_run() -> None:
        with runs.started("s", "tab") as slot:
            started.set()
            while not runs.stop_requested(slot):  # the loop checks its flag between steps
                threading.Event().wait(0.01)
            order.append("old ended")

    thread = threading.Thread(target=old_run)
    thread.start()
    assert started.wait(30)
    with runs.started("s", "tab") as slot:  # Generate again: stops the old run, starts when it has ended
        order.append("new started")
        assert not runs.stop_requested(slot)
    thread.join(30)
    assert order == ["old ended", "new started"]


def test_a_run_past_the_time_limit_ends_with_its_frames_kept(monkeypatch: pytest.MonkeyPatch, tiny_ddpm: str) -> None:
    monkeypatch.setattr(limits, "RUN_SECONDS", 0.0)
    updates = list(unconditional.run_unconditional(tiny_ddpm, "DDPM", 50, 0, False, 1))
    status = updates[-1][3]
    assert status.startswith("Stopped at the time limit of 0 s after step 1 of 50")
    assert len(updates[-1][-1]) == 1  # the frames drawn so far, for the replay slider


def test_play_steps_through_the_run_and_stops_at_its_end() -> None:
    import numpy as np

    from pipelines.engine.frames import Frame

    image = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    frames = replays.kept(
        "play", "unconditional", [Frame(step, 130, 1000 - step, 0.0, image, image) for step in range(1, 131)]
    )
    timer, first = stream.play(frames)
    assert first == 1 and timer.active
    shown, step = [], first
    while True:
        step, _, _, status, timer = stream.play_step(step, frames)
        shown.append(step)
        if not timer.active:
            break
    assert shown[0] == 4 and shown[-1] == 130 and len(shown) <= stream.PLAYED_STEPS  # strides of 3
    assert status.startswith("Step 130 / 130")
    with pytest.raises(Exception, match="Generate first"):
        stream.play(None)
