"""Cold start (issue 29): the UI is built without torch, diffusers or transformers, so a fresh server serves its page
before they load (~4 s on 2 cores; `python -m bench.cold_start`); a tab's run imports them. (On a machine with a GPU
driver, or a Mac, building the UI imports torch to ask whether the GPU works: `catalogue.has_gpu`. The test sets the
device to the CPU, as on a CPU Space, so that it checks the same everywhere.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.lazy import lazy

HEAVY = ("torch", "diffusers", "transformers", "scipy", "openvino")


def test_importing_the_app_loads_no_torch() -> None:
    code = f"import sys, app; print(sorted(name for name in {HEAVY!r} if name in sys.modules))"
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "DIFFUSION_PLAYGROUND_DEVICE": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_lazy_module_is_the_module_at_its_first_use() -> None:
    import json

    stands_in = lazy("json")
    assert lazy("json") is stands_in  # one stand-in per module, as there is one module
    assert stands_in.dumps([1]) == json.dumps([1])
    assert stands_in.loads is json.loads
