"""What a new session's state costs Gradio at its first event, as Gradio ships it and with `sessions.install()`.

    python -m bench.sessions   # a few seconds

Builds the app's page, then times `SessionState` (what Gradio builds for each new visitor at their first event,
on the event loop) as Gradio ships, with the cached signatures only, and with both of `sessions.install()`'s changes
(what `app.py` does).
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


if __name__ == "__main__":
    main()
