"""Faster first events for new sessions: Gradio's per-session state, built once per visitor, made cheaper.

At a session's first event Gradio builds its `SessionState`, which computes the config of every block of
the page (for deep links), and each block's config starts with `inspect.signature` of its class's
`__init__`: 264 blocks here, the same few dozen classes each time. When a class of 30 presses Generate
at once, the event loop builds 30 of them before it starts their runs: under that load half its time in
the first seconds went to `inspect.signature` (py-spy). A signature of a class's `__init__` never changes,
so `gradio.blocks` gets a copy of `inspect` whose `signature` is cached per function;
`python -m bench.sessions` times a session's state with and without it.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable


@functools.cache
def _cached_signature(function: Callable) -> inspect.Signature:
    return inspect.signature(function)


def signature(function: Callable, *args: object, **kwargs: object) -> inspect.Signature:
    """`inspect.signature`, cached for plain calls on hashable callables (Signature objects are immutable)."""
    if args or kwargs:
        return inspect.signature(function, *args, **kwargs)
    try:
        return _cached_signature(function)
    except TypeError:  # an unhashable callable
        return inspect.signature(function)


def install() -> None:
    """Make `gradio.blocks` use the cached `signature` (and nothing else of it changes)."""
    import gradio.blocks

    gradio.blocks.inspect = types.SimpleNamespace(**{**vars(inspect), "signature": signature})
