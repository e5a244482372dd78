"""The app's cached signatures for Gradio's per-session state (sessions.py): same configs, less time."""

from __future__ import annotations

import inspect

import gradio.blocks
import pytest
from gradio.state_holder import SessionState

import app
import sessions


def session_configs() -> dict:
    return SessionState(app.demo).config_values


def test_the_app_installs_cached_signatures_in_gradio_blocks() -> None:
    assert gradio.blocks.inspect.signature is sessions.signature
    assert gradio.blocks.inspect.isgeneratorfunction is inspect.isgeneratorfunction  # the rest is inspect's own


def test_a_session_gets_the_same_configs_as_with_gradio_as_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    cached = session_configs()
    monkeypatch.setattr(gradio.blocks, "inspect", inspect)
    assert session_configs() == cached


def test_a_new_session_computes_no_signature_once_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes it cheaper (2.3x in `python -m bench.sessions`): Gradio computed a signature per block per session."""
    computed = []
    signature = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda *args, **kwargs: computed.append(1) or signature(*args, **kwargs))
    session_configs()  # the cache filled for every block class of the page
    computed.clear()
    session_configs()
    assert computed == []
    monkeypatch.setattr(gradio.blocks, "inspect", inspect)
    session_configs()
    assert len(computed) >= len(app.demo.blocks)


def test_signature_is_inspects_for_every_kind_of_call() -> None:
    class Unhashable:
        __hash__ = None

        def __call__(self, value: int) -> int:
            return value

    assert sessions.signature(app.launch) == inspect.signature(app.launch)
    assert sessions.signature(Unhashable()) == inspect.signature(Unhashable())
    assert sessions.signature(app.launch, follow_wrapped=False) == inspect.signature(app.launch, follow_wrapped=False)
