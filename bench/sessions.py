"""What a new session's state costs Gradio at its first event, with and without the app's cached signatures.

    python -m bench.sessions   # a few seconds

Builds the app's page, then times `SessionState` (what Gradio builds for each new visitor at their first event,
on the event loop) as Gradio ships, and after `sessions.install()` (what `app.py` does).
"""

from __future__ import annotations

import time

from gradio.state_holder import SessionState

import app
import sessions


def seconds_per_session(count: int = 50) -> float:
    SessionState(app.demo)
    started = time.perf_counter()
    for _ in range(count):
        SessionState(app.demo)
    return (time.perf_counter() - started) / count


def main() -> None:
    import inspect

    import gradio.blocks

    installed = seconds_per_session()  # app.py installed it at import
    gradio.blocks.inspect = inspect  # as Gradio ships
    plain = seconds_per_session()
    sessions.install()
    blocks = len(app.demo.blocks)
    print(
        f"A new session's state ({blocks} blocks): {plain * 1000:.1f} ms as Gradio ships, "
        f"{installed * 1000:.1f} ms with cached signatures ({plain / installed:.1f}x)"
    )


if __name__ == "__main__":
    main()
