"""Modules imported at their first use: the tasks the tabs call, and what the torch-free modules call of them.

Importing torch, diffusers and transformers takes ~4 s on 2 CPU cores. The tabs are built from the torch-free
`pipelines.defaults`, and call the tasks through `lazy` modules, so a fresh server serves its page first and the
models load meanwhile (`ui/gpu.py`; `tests/test_cold_start.py` checks that `import app` loads none of them).
"""

from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    """Stands for the module of its name: each attribute asked of it is the module's, imported at the first."""

    def __getattr__(self, attribute: str) -> object:
        return getattr(importlib.import_module(self.__name__), attribute)  # thread-safe: the import lock


_made: dict[str, LazyModule] = {}  # every module made lazy in this process, by name: one stand-in each


def lazy(name: str) -> types.ModuleType:
    """The module `name`, imported when one of its attributes is first asked for (the same stand-in for a name, so
    that `is` compares them as it would the modules)."""
    return _made.setdefault(name, LazyModule(name))


def import_all() -> list[str]:
    """Import every module made lazy so far; returns their names. On ZeroGPU, before launch: each run goes to a
    worker forked from the server, which would otherwise import them again in every new worker."""
    for name in sorted(_made):
        importlib.import_module(name)
    return sorted(_made)
