"""The runs going at once share a rate of streamed updates (issue 13: each update costs the web server CPU)."""

from __future__ import annotations

from pipelines.engine.frames import Step, Throttle
from ui import runs


def frame(step: int, total_steps: int = 10) -> Step:
    return Step(step=step, total_steps=total_steps, timestep=0, elapsed=0.0)


def test_the_least_interval_lengthens_the_throttles_interval_as_it_changes() -> None:
    going = [1]
    throttle = Throttle(interval=0.1, least_interval=lambda: going[0] / 30)
    assert throttle.ready(frame(1))  # the first frame goes at once
    throttle.last_sent -= 0.1  # as if 0.1 s had passed: one run of a rate of 30 a second may send
    assert throttle.ready(frame(2))
    going[0] = 30  # a class of 30: one update a second each
    throttle.last_sent -= 0.1
    assert not throttle.ready(frame(3))
    assert throttle.ready(frame(10))  # the last frame always goes
    throttle.last_sent -= 1.0
    assert throttle.ready(frame(4))


def test_runs_going_counts_every_session_and_tab_until_each_ends() -> None:
    before = runs.going()
    with runs.started("session a", "unconditional"), runs.started("session b", "unconditional"):
        with runs.started("session a", "text_to_image"):
            assert runs.going() == before + 3
        assert runs.going() == before + 2
    assert runs.going() == before
