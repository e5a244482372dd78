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

An update of a component's properties (`gr.update(...)`, and `gr.skip()`, which streamed updates send for every
output that has not changed) makes Gradio build that component anew and compute its config at once, twice, whose
API description is a pydantic JSON schema made afresh: ~1 ms for an image or a file output, 0.2 ms with `install()`
(`python -m bench.sessions`). In a class of 30 training at once, that was a third of the server's Python time
(py-spy `--gil` on the server during `python -m bench.train_toy`). With `install()`, such an update only marks the
block's config to be computed when asked for (`LazyConfigs.forget`), with the value it was given meanwhile.
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


_NO_VALUE = object()


class LazyConfigs(dict):
    """A session's block configs (`SessionState.config_values`), each computed by `config(block_id)` on first use."""

    def __init__(self, config: Callable[[int], dict], block_ids: Iterable[int]) -> None:
        super().__init__()
        self._config = config
        # not computed yet, in the page's order: each with the value an event gave it meanwhile, if any
        self._pending = dict.fromkeys(block_ids, _NO_VALUE)

    def __missing__(self, block_id: int) -> dict:
        if block_id not in self._pending:
            raise KeyError(block_id)
        value = self._pending[block_id]
        config = self._config(block_id)
        if value is not _NO_VALUE and "props" in config:
            config["props"]["value"] = value  # as Gradio's `_update_value_in_config` would have put it
        self[block_id] = config
        return config

    def __setitem__(self, block_id: int, config: dict) -> None:
        self._pending.pop(block_id, None)  # set by Gradio (an update): never computed over
        super().__setitem__(block_id, config)

    def __contains__(self, block_id: object) -> bool:
        return super().__contains__(block_id) or block_id in self._pending

    def forget(self, block_id: int) -> None:
        """The block changed: its config is computed again when next asked for."""
        if dict.__contains__(self, block_id):
            dict.__delitem__(self, block_id)
        self._pending[block_id] = _NO_VALUE

    def set_value(self, block_id: int, value: object) -> bool:
        """An event's value for a block whose config is not computed: kept for when it is. False if it is computed
        (or unknown), for Gradio to set as it does."""
        if block_id not in self._pending:
            return False
        self._pending[block_id] = value
        return True

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

    return init


def lazy_update_config(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def update_config(session: object, block_id: int) -> None:
        if isinstance(session.config_values, LazyConfigs):
            session.config_values.forget(block_id)
        else:
            original(session, block_id)

    return update_config


def lazy_update_value_in_config(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def update_value_in_config(session: object, block_id: int, value: object) -> None:
        configs = session.config_values
        if not (isinstance(configs, LazyConfigs) and configs.set_value(block_id, value)):
            original(session, block_id, value)

    return update_value_in_config


def lazy_set_item(original: Callable[..., None]) -> Callable[..., None]:
    """Gradio's `SessionState.__setitem__` stores a component built anew for an update, then computes the config of
    the one it replaced (at once, and again in `_update_config`): here it is stored and its config left to be
    computed when asked for. A `gr.State`'s value is stored as Gradio does."""

    @functools.wraps(original)
    def set_item(session: object, block_id: int, value: object) -> None:
        from gradio.components import State

        configs = session.config_values
        if not isinstance(configs, LazyConfigs) or isinstance(session.blocks_config.blocks.get(block_id), State):
            original(session, block_id, value)
            return
        session.blocks_config.blocks[block_id] = value
        configs.forget(block_id)

    return set_item


def install() -> None:
    """Make `gradio.blocks` use the cached `signature` (nothing else of `inspect` changes), and sessions' configs
    lazy, at their start and at every update of a component's properties."""
    import gradio.blocks
    import gradio.state_holder

    gradio.blocks.inspect = types.SimpleNamespace(**{**vars(inspect), "signature": signature})
    session_state = gradio.state_holder.SessionState
    for name, make_lazy in (
        ("__init__", lazy_session_state_init),
        ("_update_config", lazy_update_config),
        ("__setitem__", lazy_set_item),
        ("_update_value_in_config", lazy_update_value_in_config),
    ):
        method = getattr(session_state, name)
        if not getattr(method, "lazy", False):  # once, however often `install` is called
            lazy_method = make_lazy(method)
            lazy_method.lazy = True
            setattr(session_state, name, lazy_method)
