"""All of the app's torch work on one thread.

torch's CPU kernels run on an OpenMP thread pool, and OpenMP makes one pool per application
thread that calls into it (PyTorch's "CPU threading" notes). A Gradio app calls its handlers
from a pool of worker threads, and a diffusers pipeline that reports steps through a callback
has to run on a thread of its own: so several pools of 2 threads each end up on 2 cores, and
measured here, a pipeline ran 2-3x slower than the same call on a process's only torch thread
(README: Benchmarks). `python -m bench.threads`: a Stable Diffusion call that takes 0.65 s on
a process's only torch thread takes 1.58 s on a second thread once the main thread has run one
parallel op. Every model call, decode, load and tensor op of the app therefore goes through
this module's single thread:
- `run(function, ...)` runs a function there and returns its result;
- `steps(generator)` is the generator with each of its steps run there (the written-out loops);
- `start(function, ...)` begins a long job there (a pipeline call) and returns its future; the
  job calls `serve_pending()` between its steps, so that short jobs asked for meanwhile (the
  decode of a frame the browser is about to show) run then instead of after the whole job.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TypeVar

import torch

Result = TypeVar("Result")
Job = tuple[Callable[[], object], Future]

_ready = threading.Condition()
_short_jobs: deque[Job] = deque()  # single model calls, decodes, loads: also run between a long job's steps
_long_jobs: deque[Job] = deque()  # whole pipeline calls


def _serve_forever() -> None:
    while True:
        with _ready:
            _ready.wait_for(lambda: _short_jobs or _long_jobs)
            job = (_short_jobs or _long_jobs).popleft()
        _do(*job)


def _do(function: Callable[[], object], future: Future) -> None:
    if future.set_running_or_notify_cancel():
        try:
            future.set_result(function())
        except BaseException as error:  # handed to whoever waits on the future
            future.set_exception(error)


def _queue(function: Callable[[], object], jobs: deque[Job]) -> Future:
    future: Future = Future()
    with _ready:
        jobs.append((function, future))
        _ready.notify()
    return future


_thread = threading.Thread(target=_serve_forever, name="torch", daemon=True)
_thread.start()


def on_torch_thread() -> bool:
    return threading.current_thread() is _thread


def start(function: Callable[..., Result], *args: object, **kwargs: object) -> Future:
    """Queue the long job `function(*args, **kwargs)` for the torch thread; its Future gives the result."""
    if on_torch_thread():
        raise RuntimeError("A long job started from the torch thread would wait for itself.")
    return _queue(lambda: function(*args, **kwargs), _long_jobs)


def run(function: Callable[..., Result], *args: object, **kwargs: object) -> Result:
    """`function(*args, **kwargs)` on the torch thread (directly, if this is it), between a long job's steps."""
    if on_torch_thread():
        return function(*args, **kwargs)
    return _queue(lambda: function(*args, **kwargs), _short_jobs).result()


def serve_pending() -> None:
    """Run the short jobs queued meanwhile; called by a long job on the torch thread between its steps."""
    while True:
        with _ready:
            if not _short_jobs:
                return
            job = _short_jobs.popleft()
        _do(*job)


def steps(generator: Iterator[Result]) -> Iterator[Result]:
    """`generator`, each of its steps (and its closing) run on the torch thread."""
    done = object()
    try:
        while (item := run(next, generator, done)) is not done:
            yield item
    finally:
        run(generator.close)


def set_num_threads(count: int) -> None:
    """torch's thread count on the torch thread (it is kept per thread; other threads must not touch torch).

    Only when it changes: setting it to the count it already had (2 on 2 cores) made the text-to-image
    benchmark's plain call 1.51 s instead of 0.50 s (README: Benchmarks).
    """
    if run(torch.get_num_threads) != count:
        run(torch.set_num_threads, count)
