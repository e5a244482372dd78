"""Faster first events for new sessions: Gradio's per-session state, built once per visitor, made cheaper.

At a session's first event Gradio builds its `SessionState`, which computes the config of every block of
the page (for deep links), and each block's config starts with `inspect.signature` of its class's
`__init__`: 264 blocks here, the same few dozen classes each time. When a class of 30 presses Generate
at once, the event loop builds 30 of them before it starts their runs: under that load half its time in
the first seconds went to `inspect.signature` (py-spy). A signature of a class's `__init__` never changes,
so `gradio.blocks` gets a copy of `inspect` whose `signature` is cached per function;
`python -m bench.sessions` times a session's state with and without it.

The configs themselves are kept per session only so that a deep link (`gr.DeepLinkButton`, which this app
does not have) can rebuild the page as that user left it: `install()` also makes them lazy, each block's
computed when first asked for, all of them when a deep link iterates them; an event's updates fill only
the blocks they change, as Gradio does.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable, Iterator


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


class LazyConfigs(dict):
    """A session's block configs (`SessionState.config_values`), each computed by `config(block_id)` on first use."""

    def __init__(self, config: Callable[[int], dict], block_ids: Iterable[int]) -> None:
        super().__init__()
        self._config = config
        self._pending = dict.fromkeys(block_ids)  # not computed yet, in the page's order

    def __missing__(self, block_id: int) -> dict:
        if block_id not in self._pending:
            raise KeyError(block_id)
        self[block_id] = self._config(block_id)
        return dict.__getitem__(self, block_id)

    def __setitem__(self, block_id: int, config: dict) -> None:
        self._pending.pop(block_id, None)  # set by Gradio (an update): never computed over
        super().__setitem__(block_id, config)

    def __contains__(self, block_id: object) -> bool:
        return super().__contains__(block_id) or block_id in self._pending

    def get(self, block_id: int, default: object = None) -> object:
        return self[block_id] if block_id in self else default  # noqa: SIM401 - dict.get would skip __missing__

    def computed(self) -> dict:
        """Every config, computing those not asked for yet (a deep link's view of the page)."""
        for block_id in list(self._pending):
            self[block_id]  # noqa: B018 - computed and kept by __missing__
        return dict(dict.items(self))

    def items(self):  # noqa: ANN201 - dict's own view types
        return self.computed().items()

    def keys(self):  # noqa: ANN201
        return self.computed().keys()

    def values(self):  # noqa: ANN201
        return self.computed().values()

    def __iter__(self) -> Iterator[int]:
        return iter(self.computed())

    def __len__(self) -> int:
        return super().__len__() + len(self._pending)


class _PageWithoutConfigs:
    """What `SessionState.__init__` is given: the page, but no block to compute a config of (`LazyConfigs` will)."""

    def __init__(self, blocks: object) -> None:
        self._blocks = blocks
        self.blocks: dict = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self._blocks, name)


def lazy_session_state_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def init(session: object, blocks: object) -> None:
        original(session, _PageWithoutConfigs(blocks))
        block_ids = [block_id for block_id in session.blocks_config.blocks if block_id in blocks.blocks]
        session.config_values = LazyConfigs(
            lambda block_id: session.blocks_config.config_for_block(
                block_id, [], session.blocks_config.blocks[block_id]
            ),
            block_ids,
        )

    init.lazy = True
    return init


def install() -> None:
    """Make `gradio.blocks` use the cached `signature` (nothing else of `inspect` changes), and sessions' configs
    lazy."""
    import gradio.blocks
    import gradio.state_holder

    gradio.blocks.inspect = types.SimpleNamespace(**{**vars(inspect), "signature": signature})
    session_state = gradio.state_holder.SessionState
    if not getattr(session_state.__init__, "lazy", False):
        session_state.__init__ = lazy_session_state_init(session_state.__init__)
