"""The app's cheaper per-session state for Gradio (ui/sessions.py): cached signatures, lazy configs; same configs."""

from __future__ import annotations

import gc
import inspect
import tracemalloc

import gradio.blocks
import pytest
from gradio.state_holder import SessionState
from gradio_client import Client

import app
from pipelines.engine import limits
from ui import sessions


def session_configs() -> dict:
    return dict(SessionState(app.demo).config_values.items())  # every block's, computed now if lazy


def as_gradio_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradio.blocks, "inspect", inspect)
    monkeypatch.setattr(SessionState, "__init__", SessionState.__init__.__wrapped__)
    monkeypatch.setattr(SessionState, "_update_config", SessionState._update_config.__wrapped__)
    monkeypatch.setattr(SessionState, "__setitem__", SessionState.__setitem__.__wrapped__)
    monkeypatch.setattr(SessionState, "_update_value_in_config", SessionState._update_value_in_config.__wrapped__)


def test_the_app_installs_cached_signatures_in_gradio_blocks() -> None:
    assert gradio.blocks.inspect.signature is sessions.signature
    assert gradio.blocks.inspect.isgeneratorfunction is inspect.isgeneratorfunction  # the rest is inspect's own


def test_a_session_gets_the_same_configs_as_with_gradio_as_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    cached = session_configs()
    assert len(cached) == len(SessionState(app.demo).config_values) > 200
    as_gradio_ships(monkeypatch)
    assert session_configs() == cached


def counted_configs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The blocks whose config Gradio computes from now on, in order."""
    computed = []
    config_for_block = type(app.demo.default_config).config_for_block
    monkeypatch.setattr(
        type(app.demo.default_config),
        "config_for_block",
        staticmethod(lambda *args: computed.append(args[0]) or config_for_block(*args)),
    )
    return computed


def test_a_new_session_computes_a_blocks_config_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = counted_configs(monkeypatch)
    session = SessionState(app.demo)
    assert computed == []
    block_id = next(iter(app.demo.blocks))
    assert block_id in session.config_values and session.config_values[block_id] and computed == [block_id]
    session._update_value_in_config(block_id, "new value")  # what an event's update does, as Gradio does it
    assert session.config_values[block_id].get("props", {}).get("value", "new value") == "new value"
    assert dict(session.config_values.items())[block_id] is session.config_values[block_id]  # not computed over
    as_gradio_ships(monkeypatch)
    computed.clear()
    SessionState(app.demo)
    assert len(computed) >= len(app.demo.blocks) - 1  # Gradio as shipped: every block's at once


def test_an_update_of_a_components_properties_computes_its_config_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `gr.skip()` and `gr.update(...)` make Gradio do: build the component anew, then compute its config (a
    third of the server's Python time in a class of 30 training, when done at once)."""
    computed = counted_configs(monkeypatch)
    session = SessionState(app.demo)
    image_id = next(key for key, block in app.demo.blocks.items() if isinstance(block, gradio.Image))
    changed = {**app.demo.blocks[image_id].constructor_args, "label": "changed", "render": False}
    session[image_id] = gradio.Image(**changed)  # as Gradio does for an update, then:
    session._update_config(image_id)
    session._update_value_in_config(image_id, {"path": "x.png"})  # a later event's value
    assert computed == []
    config = session.config_values[image_id]
    assert config["props"]["label"] == "changed" and config["props"]["value"] == {"path": "x.png"}
    assert computed == [image_id]
    SessionState._update_config.__wrapped__(session, image_id)  # Gradio's own, at once
    SessionState._update_value_in_config.__wrapped__(session, image_id, {"path": "x.png"})
    assert session.config_values[image_id] == config


def test_lazy_configs_keep_what_was_set_and_compute_the_rest_once() -> None:
    calls = []
    configs = sessions.LazyConfigs(lambda block_id: calls.append(block_id) or {"id": block_id}, [1, 2, 3])
    configs[2] = {"id": 2, "updated": True}
    assert 3 in configs and 4 not in configs and len(configs) == 3 and calls == []
    assert configs[1] == {"id": 1} and configs[1] is configs[1] and calls == [1]
    assert configs.get(4, "none") == "none" and configs.get(2)["updated"] and calls == [1]
    assert dict(configs.items()) == {1: {"id": 1}, 2: {"id": 2, "updated": True}, 3: {"id": 3}} and calls == [1, 3]
    with pytest.raises(KeyError):
        configs[4]
    configs.forget(1)  # the block changed: computed again when asked for
    assert 1 in configs and calls == [1, 3] and configs[1] == {"id": 1} and calls == [1, 3, 1]


def test_a_new_session_computes_no_signature_once_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes it cheaper (2.3x in `python -m bench.sessions`): Gradio computed a signature per block per session."""
    computed = []
    signature = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda *args, **kwargs: computed.append(1) or signature(*args, **kwargs))
    session_configs()  # the cache filled for every block class of the page
    computed.clear()
    session_configs()
    assert computed == []
    as_gradio_ships(monkeypatch)
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


def test_a_visitors_session_holds_little_and_gradio_keeps_at_most_max_sessions(app_url: str) -> None:
    """Gradio keeps every visitor's session (10,000 by default): the app caps them at MAX_SESSIONS, and a session
    after a run of two tabs holds under SESSION_BYTES, so that sessions cannot grow RSS past their budget."""
    assert app.demo.state_holder.capacity == limits.MAX_SESSIONS
    assert limits.limit_allocator_arenas()  # glibc here: mallopt accepted (app.launch has called it)
    client = Client(app_url, verbose=False, download_files=False)
    tracemalloc.start()
    try:
        client.predict("shapes-ddpm", "DDIM", 10, 3, False, 2, api_name="/unconditional")
        client.predict("shapes-sd", "a small blue square", "", 5.0, "DDIM", 10, 3, False, 2, api_name="/text_to_image")
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        del app.demo.state_holder.session_data[client.session_hash]
        gc.collect()
        held = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert 10_000 < held < limits.SESSION_BYTES, held
    # what Gradio does to the least recently used session past MAX_SESSIONS: its visitor is served on, anew
    assert client.predict("shapes-ddpm", "DDIM", 5, 4, False, 1, api_name="/unconditional")[3].startswith("Done")
