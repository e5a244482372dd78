"""Every visitor's replay frames, kept in the server under one memory budget, least recently used dropped first.

A run's frames (x_t and x̂0 of every step, a latent model's latents) let its tab replay it with the slider and Play.
Kept per visitor in Gradio's session state, they grew with the crowd: 160 visitors with three default runs each
took the server from 537 to 1,264 MB in 7 minutes, and a 1000-step run keeps ~50 MB. Here they are kept once, in
the server process (on ZeroGPU the worker's frames arrive pickled there), and a session's state holds only a
`Replay` ticket. All runs' frames together stay within `limits.REPLAY_MEMORY_BYTES`; past it the frames least
recently replayed or made go first, and their visitor is told so at the slider. A session's frames also go
`FRAMES_KEPT_SECONDS` after their last use, as before.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pipelines.engine import limits
from pipelines.engine.frames import Step

FRAMES_KEPT_SECONDS = 1800  # a session's replay frames are dropped after 30 minutes without use
DROPPED = (
    "This run's steps are no longer kept: the replay keeps the most recent runs of all visitors within "
    "{budget}, and this one made room for newer ones. Generate again to replay it."
)


@dataclass(frozen=True)
class Replay:
    """A session's ticket to its tab's last run's frames: what its gr.State holds."""

    key: tuple[str | None, str]  # (session, tab): each keeps its last run's frames only
    steps: int  # how many frames the run kept

    def __len__(self) -> int:
        return self.steps


def frame_bytes(frame: Step) -> int:
    """The memory a frame holds: its arrays and tensors (x_t, x̂0, latents, a decoded x̂0 once shown)."""
    import torch  # loaded: a run made the frame (the UI is built without it: `pipelines/defaults`)

    total = 0
    for value in vars(frame).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, torch.Tensor):
            total += value.element_size() * value.nelement()
    return total


class ReplayStore:
    """Each (session, tab)'s last run's frames, least recently used first, within `budget` bytes and `seconds`
    unused."""

    def __init__(self, budget: int, seconds: float = FRAMES_KEPT_SECONDS) -> None:
        self.budget, self.seconds = budget, seconds
        self._runs: OrderedDict[tuple, tuple[list[Step], int, float]] = OrderedDict()  # frames, bytes, last use
        self._lock = threading.Lock()

    def keep(self, key: tuple[str | None, str], frames: list[Step]) -> Replay:
        """Keep a run's frames in place of its (session, tab)'s last; the least recently used runs go if the whole
        is over budget (this one too, if it alone is)."""
        self._put(key, frames)
        return Replay(key, len(frames))

    def frames(self, replay: Replay) -> list[Step] | None:
        """The frames of a ticket, now the most recently used; None if they were dropped."""
        with self._lock:
            kept = self._runs.get(replay.key)
        if kept is None or len(kept[0]) != replay.steps:
            return None
        # a latent frame shown in the replay keeps its decoded x̂0, so it is measured again
        self._put(replay.key, kept[0])
        return kept[0] if replay.key in self._runs else None

    def _put(self, key: tuple, frames: list[Step]) -> None:
        size = sum(frame_bytes(frame) for frame in frames)
        with self._lock:
            self._runs.pop(key, None)
            self._runs[key] = (frames, size, time.monotonic())
            self._shrink()

    def kept_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size, _ in self._runs.values())

    def _shrink(self) -> None:
        total = sum(size for _, size, _ in self._runs.values())
        expired = time.monotonic() - self.seconds
        while self._runs:
            number, (_, size, last_use) = next(iter(self._runs.items()))
            if total <= self.budget and last_use >= expired:
                break
            del self._runs[number]
            total -= size


STORE = ReplayStore(limits.REPLAY_MEMORY_BYTES)


def kept(session: str | None, task: str, frames: list[Step]) -> Replay:
    """Keep the frames of a run of this session's tab `task` for its replay; the ticket goes into its gr.State."""
    return STORE.keep((session, task), frames)


def frames_of(replay: Replay | None) -> tuple[list[Step], str | None]:
    """A session's replay frames, and a note for the visitor if there are none: never generated, or dropped."""
    if replay is None or not isinstance(replay, Replay):
        return [], "Generate first: the replay shows the steps of the last run."
    frames = STORE.frames(replay)
    if frames is None:
        return [], DROPPED.format(budget=f"{STORE.budget / 2**20:,.0f} MB")
    return frames, None
