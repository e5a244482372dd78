"""ui/replays.py: every visitor's replay frames under one memory budget, least recently used first, with a note for a
visitor whose frames went; through the app's handlers, the session's state holds a ticket, not the frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.engine.frames import Frame, LatentFrame
from ui import replays, stream
from ui.replays import Replay, ReplayStore, frame_bytes


def frames(count: int, side: int = 16) -> list[Frame]:
    image = np.zeros((1, side, side, 3), dtype=np.uint8)  # 768 bytes at 16 px
    return [Frame(step, count, 1000 - step, 0.0, image.copy(), image.copy()) for step in range(1, count + 1)]


def test_a_frame_counts_its_arrays_and_latents() -> None:
    assert frame_bytes(frames(1)[0]) == 2 * 16 * 16 * 3
    latent = LatentFrame(1, 1, 999, 0.0, np.zeros((1, 17, 17, 3), np.uint8), torch.zeros(1, 4, 8, 8), lambda x: x)
    assert frame_bytes(latent) == 17 * 17 * 3 + 4 * 8 * 8 * 4


def test_the_least_recently_used_runs_go_first_and_the_total_stays_within_budget() -> None:
    run_bytes = 10 * 2 * 16 * 16 * 3
    store = ReplayStore(budget=3 * run_bytes)
    tickets = [store.keep(("visitor", str(number)), frames(10)) for number in range(3)]
    assert store.kept_bytes() == 3 * run_bytes
    assert store.frames(tickets[0]) is not None  # replayed: now the most recently used
    fourth = store.keep(("visitor", "3"), frames(10))
    assert store.kept_bytes() <= store.budget
    assert store.frames(tickets[1]) is None  # the least recently used went
    assert all(store.frames(ticket) is not None for ticket in (tickets[0], tickets[2], fourth))
    for number in range(100):  # a crowd: the total never passes the budget
        store.keep((f"crowd-{number}", "unconditional"), frames(10))
        assert store.kept_bytes() <= store.budget


def test_a_new_run_of_the_same_tab_takes_the_place_of_the_last() -> None:
    store = ReplayStore(budget=10**9)
    store.keep(("visitor", "unconditional"), frames(50))
    ticket = store.keep(("visitor", "unconditional"), frames(20))
    assert len(store.frames(ticket)) == 20 and store.kept_bytes() == 20 * 2 * 16 * 16 * 3


def test_frames_unused_for_their_time_to_live_go() -> None:
    store = ReplayStore(budget=10**9, seconds=0.0)
    ticket = store.keep(("visitor", "unconditional"), frames(3))
    store.keep(("another", "unconditional"), frames(3))
    assert store.frames(ticket) is None


def test_a_visitor_whose_frames_went_gets_a_note_at_the_slider_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replays, "STORE", ReplayStore(budget=0))
    ticket = replays.kept("visitor", "unconditional", frames(5))
    noisy, estimate, status = stream.replay_step(3, ticket)
    assert "no longer kept" in status and "Generate again" in status
    *_, status, timer = stream.play_step(1, ticket)
    assert "no longer kept" in status and not timer.active
    with pytest.raises(Exception, match="Generate first"):
        stream.replay_step(1, None)


def test_the_handler_sends_a_ticket_and_the_replay_reads_the_frames(tiny_ddpm: str) -> None:
    from tabs import unconditional

    updates = list(unconditional.run_unconditional(tiny_ddpm, "DDPM", 6, 0, False, 1))
    ticket = updates[-1][-1]
    assert isinstance(ticket, Replay) and len(ticket) == 6
    _, _, status = stream.replay_step(2, ticket)
    assert status.startswith("Step 2 / 6")
