"""The runs going on, and Stop: each tab of each browser session has at most one run at a time.

A run is keyed by (session, tab). Stop ends the run of its own key only, after the step it is in.
Generate while a run of the same key is going (say, right after Stop, before the stopped run has
finished its step) stops that run, waits for it to end, then starts: so the click is never lost
and a stopped run never swallows the next one. A Stop pressed when nothing runs does nothing.

The stop flags live in shared memory made at import, before any fork: on a ZeroGPU Space the
run's loop goes on in a worker forked from the server (`spaces.GPU`), while Stop is handled in
the server; both see the same flags. A run is handed its flag's slot number, which pickles.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SLOTS = 1024  # runs going at once, at most (far above the queue's concurrency)
WAIT_FOR_PREVIOUS_SECONDS = 60.0  # a stopped run ends after its current step: seconds at most

_stop_flags = multiprocessing.RawArray(ctypes.c_bool, SLOTS)  # shared with forked children
_lock = threading.Lock()
_free_slots = list(range(SLOTS - 1, -1, -1))
_running: dict[tuple[str | None, str], tuple[int, threading.Event]] = {}  # key -> (slot, set when it ended)


def stop(session: str | None, task: str) -> bool:
    """Ask the run of this session's tab `task` to stop after its current step; False if none is going."""
    with _lock:
        running = _running.get((session, task))
        if running is not None:
            _stop_flags[running[0]] = True
        return running is not None


def going() -> int:
    """How many runs are going now, of every session and tab."""
    return len(_running)


def stop_requested(slot: int) -> bool:
    return bool(_stop_flags[slot])


@contextmanager
def started(session: str | None, task: str) -> Iterator[int]:
    """A run of (session, task): stops and waits for the one going before it; gives the run its slot."""
    key = (session, task)
    ended = threading.Event()
    while True:
        with _lock:
            previous = _running.get(key)
            if previous is None:
                if not _free_slots:
                    raise RuntimeError("Too many runs at once; try again in a moment.")
                slot = _free_slots.pop()
                _stop_flags[slot] = False
                _running[key] = (slot, ended)
                break
            _stop_flags[previous[0]] = True
        if not previous[1].wait(WAIT_FOR_PREVIOUS_SECONDS):
            raise RuntimeError("The previous run of this tab did not stop in time; try again in a moment.")
    try:
        yield slot
    finally:
        with _lock:
            del _running[key]
            _free_slots.append(slot)
        ended.set()


def controlled(session: str | None, task: str, run: Callable[..., Iterator], *inputs: object) -> Iterator:
    """`run(slot, *inputs)` streamed as the run of (session, task); `run` may execute in a forked worker."""
    with started(session, task) as slot:
        yield from run(slot, *inputs)
