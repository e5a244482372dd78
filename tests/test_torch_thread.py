"""pipelines/engine/torch_thread.py: every step on the one torch thread, ahead of the consumer, in turn with the
other loops, and closed there when the consumer stops. No models; ~1 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pipelines.engine import torch_thread


def counting(
    name: str, count: int, log: list, closed: list[str] | None = None, seconds_per_step: float = 0.0
) -> Iterator[int]:
    try:
        for index in range(count):
            time.sleep(seconds_per_step)
            log.append((name, index, threading.current_thread().name))
            yield index
    finally:
        if closed is not None:
            closed.append(threading.current_thread().name)


def test_steps_run_on_the_torch_thread_and_give_every_item_in_order() -> None:
    log: list = []
    assert list(torch_thread.steps(counting("a", 5, log))) == [0, 1, 2, 3, 4]
    assert {thread for _, _, thread in log} == {"torch"}


def test_the_loop_does_not_wait_for_a_slow_consumer() -> None:
    log: list = []
    stream = torch_thread.steps(counting("a", 20, log))
    assert next(stream) == 0
    time.sleep(0.2)  # a consumer busy with its first frame
    assert len(log) == 20  # meanwhile the loop went on to its end
    assert list(stream) == list(range(1, 20))


def test_two_loops_take_turns() -> None:
    log: list = []
    started = threading.Event()

    def hold() -> None:  # keeps the torch thread busy until both loops are queued
        started.wait()

    blocker = torch_thread.start(hold)
    first, second = torch_thread.steps(counting("a", 3, log)), torch_thread.steps(counting("b", 3, log))
    consumers = [threading.Thread(target=list, args=(stream,)) for stream in (first, second)]
    for consumer in consumers:
        consumer.start()
    deadline = time.monotonic() + 10
    while len(torch_thread._streams) < 2 and time.monotonic() < deadline:  # both queued behind the blocker
        time.sleep(0.001)
    started.set()
    blocker.result()
    for consumer in consumers:
        consumer.join(timeout=10)
    assert [name for name, _, _ in log] == ["a", "b", "a", "b", "a", "b"]


def test_short_jobs_run_between_the_steps_of_a_loop() -> None:
    log: list = []
    stream = torch_thread.steps(counting("loop", 20, log, seconds_per_step=0.02))
    next(stream)
    torch_thread.run(log.append, "short")
    position = log.index("short")
    assert 0 < position < 20  # not after the whole loop
    stream.close()


def test_closing_the_consumer_closes_the_generator_on_the_torch_thread() -> None:
    log: list = []
    closed: list[str] = []
    stream = torch_thread.steps(counting("a", 1000, log, closed, seconds_per_step=0.001))
    next(stream)
    stream.close()
    assert closed == ["torch"]  # already closed when close() returns
    assert len(log) < 1000


def test_closing_on_the_web_servers_event_loop_does_not_wait_for_the_torch_thread(
    seconds_to_close_on_an_event_loop: Callable[[Iterator], float],
) -> None:
    """Gradio closes a cancelled run's generator on its event loop: waiting there for the run's next turn on the
    torch thread would hold up every other user's requests and updates."""
    closed: list[str] = []
    stream = torch_thread.steps(counting("a", 1000, [], closed, seconds_per_step=0.001))  # far from done when closed
    next(stream)
    assert seconds_to_close_on_an_event_loop(stream) < 2  # not the 10 s it waits for
    deadline = time.monotonic() + 10
    while not closed and time.monotonic() < deadline:  # the torch thread closes it at its next turn
        time.sleep(0.01)
    assert closed == ["torch"]
    assert torch_thread.run(lambda: 2 + 2) == 4


def test_an_error_in_the_loop_is_raised_to_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("Steps must be between 1 and 1000")

    stream = torch_thread.steps(failing())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="between 1 and 1000"):
        next(stream)
    assert torch_thread.run(lambda: 2 + 2) == 4  # the torch thread goes on serving


def test_idle_when_no_loop_runs_and_no_job_is_queued_or_running() -> None:
    """What the warm-up waits for (`wait_until_idle`) before each load: a visitor's run goes first."""
    torch_thread.wait_until_idle(0.1)
    running, release = threading.Event(), threading.Event()
    job = torch_thread.start(lambda: running.set() or release.wait(timeout=60))
    assert running.wait(timeout=60) and not torch_thread.idle()  # a job running (a visitor's model loading)
    release.set()
    job.result(timeout=60)
    loop = torch_thread.steps(iter([1, 2]))
    assert next(loop) == 1 and not torch_thread.idle()  # a loop still streaming
    assert list(loop) == [2] and torch_thread.idle()
    started = time.monotonic()
    torch_thread.wait_until_idle(0.2)
    assert time.monotonic() - started >= 0.2
