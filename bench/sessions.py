"""What a new session's state costs Gradio at its first event, and what each `gr.skip()` of a streamed update costs it,
as Gradio ships and with `sessions.install()`.

    python -m bench.sessions   # a few seconds

Builds the app's page, then times `SessionState` (what Gradio builds for each new visitor at their first event,
on the event loop) as Gradio ships, with the cached signatures only, and with both of `sessions.install()`'s changes
(what `app.py` does); then what `Blocks.postprocess_data` does on the event loop for a `gr.skip()` (or any
`gr.update(...)`) of an image and of a file output: the component built anew, stored in the session, its config
updated.
"""

from __future__ import annotations

import time

from gradio.state_holder import SessionState

import app
from ui import sessions


def seconds_per_session(count: int = 50) -> float:
    SessionState(app.demo)
    started = time.perf_counter()
    for _ in range(count):
        SessionState(app.demo)
    return (time.perf_counter() - started) / count


def seconds_per_skip(component: type, count: int = 200) -> float:
    """One `gr.skip()` of an output of `component`'s class, as `Blocks.postprocess_data` handles it."""
    block_id = next(key for key, block in app.demo.blocks.items() if type(block) is component)
    session = SessionState(app.demo)
    started = time.perf_counter()
    for _ in range(count):
        session[block_id] = component(**{**app.demo.blocks[block_id].constructor_args, "render": False})
        session._update_config(block_id)
    return (time.perf_counter() - started) / count


def main() -> None:
    import inspect

    import gradio.blocks

    installed = seconds_per_session()  # app.py installed both at import
    lazy_init = SessionState.__init__
    SessionState.__init__ = lazy_init.__wrapped__  # Gradio's own
    signatures_only = seconds_per_session()
    gradio.blocks.inspect = inspect  # as Gradio ships
    plain = seconds_per_session()
    sessions.install()
    blocks = len(app.demo.blocks)
    print(
        f"A new session's state ({blocks} blocks): {plain * 1000:.2f} ms as Gradio ships, "
        f"{signatures_only * 1000:.2f} ms with cached signatures, {installed * 1000:.2f} ms with lazy configs too "
        f"({plain / installed:.0f}x less)"
    )
    import gradio

    for component in (gradio.Image, gradio.File):
        lazy = seconds_per_skip(component)
        patched = SessionState.__setitem__, SessionState._update_config
        SessionState.__setitem__, SessionState._update_config = (method.__wrapped__ for method in patched)
        shipped = seconds_per_skip(component)
        SessionState.__setitem__, SessionState._update_config = patched
        print(
            f"A gr.skip() for a gr.{component.__name__} output: {shipped * 1000:.2f} ms as Gradio ships, "
            f"{lazy * 1000:.2f} ms with its config computed only when asked for"
        )


if __name__ == "__main__":
    main()
