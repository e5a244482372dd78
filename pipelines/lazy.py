"""Modules imported at their first use: the tasks the tabs call, and what the torch-free modules call of them.

Importing torch, diffusers and transformers takes ~4 s on 2 CPU cores. The tabs are built from the torch-free
`pipelines.defaults`, and call the tasks through `lazy` modules, so a fresh server serves its page first and the
models load meanwhile (`ui/gpu.py`; `tests/test_cold_start.py` checks that `import app` loads none of them).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

# The first imports of modules made lazy, one at a time: two threads importing torch, diffusers and transformers at
# once (the warm-up, a visitor's first run) could each hold a module the other needs next, which Python 3.11 answers
# with an ImportError (`_DeadlockError`). No module touches a lazy module's attributes while it is being imported
# (`tests/test_cold_start.py`), so this lock is never awaited under a module's import lock.
_first_imports = threading.RLock()


class LazyModule(types.ModuleType):
    """Stands for the module of its name: each attribute asked of it is the module's, imported at the first."""

    def __getattr__(self, attribute: str) -> object:
        module = sys.modules.get(self.__name__)
        if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
            with _first_imports:
                module = importlib.import_module(self.__name__)
        return getattr(module, attribute)


_made: dict[str, LazyModule] = {}  # every module made lazy in this process, by name: one stand-in each


def lazy(name: str) -> types.ModuleType:
    """The module `name`, imported when one of its attributes is first asked for (the same stand-in for a name, so
    that `is` compares them as it would the modules)."""
    if name not in _made:
        _made[name] = LazyModule(name)
    return _made[name]


def import_all() -> list[str]:
    """Import every module made lazy so far; returns their names. On ZeroGPU, before launch: each run goes to a
    worker forked from the server, which would otherwise import them again in every new worker."""
    for name in sorted(_made):
        importlib.import_module(name)
    return sorted(_made)
