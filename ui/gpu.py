"""Generation on a GPU: `spaces.GPU` where the `spaces` package is installed (on Hugging Face Spaces).

On a ZeroGPU Space, `spaces.GPU` runs each call of the decorated generator in a worker process
forked from the server, with a GPU attached for `duration` seconds, and pickles every value it
yields back to the server: frames stream as on a CPU. Elsewhere (a CPU, a GPU Space, a laptop)
it returns the function unchanged, and so does this module where `spaces` is not installed. What
the fork means for this app is handled where it matters: the torch thread restarts in the child
(`pipelines/engine/torch_thread.py`), Stop's flags live in shared memory (`ui/runs.py`), and a latent frame
carries its decoded images when pickled (`pipelines/engine/frames.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pipelines.engine import catalogue

Function = TypeVar("Function", bound=Callable)
BASE_SECONDS = 20  # loading weights onto the GPU, the first decode: paid once per call
STEP_SECONDS = {"cpu": 0.01, "gpu": 0.08}  # one step of one image on ZeroGPU's GPU, by the model's hardware class
MAX_SECONDS = 120  # ZeroGPU's quota is counted in these seconds: a run asking for more is refused by the scheduler


def on_gpu(duration: Callable[..., float]) -> Callable[[Function], Function]:
    """`spaces.GPU(duration=duration)` if `spaces` is installed, else nothing; `duration` takes the call's arguments."""
    try:
        import spaces
    except ImportError:
        return lambda function: function
    return spaces.GPU(duration=duration)


def seconds(model: str, steps: object, images: object = 1) -> int:
    """The GPU seconds a run asks ZeroGPU for: a base, plus steps × images at the model's speed, capped."""
    entry = next((item for item in catalogue.entries() if item.name == model), None)
    per_step = STEP_SECONDS[entry.hardware if entry else "gpu"]
    try:
        work = float(steps) * float(images) * per_step
    except (TypeError, ValueError):  # a bad value is refused by the run itself, with a message
        work = 0.0
    return int(min(MAX_SECONDS, BASE_SECONDS + max(0.0, work)))
