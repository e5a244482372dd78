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
- `steps(generator)` runs the generator there (the written-out loops), one step at a time in
  turn with the other such generators, and hands its items over through a queue: the loop never
  waits for whoever consumes them (handing each step over and back cost 0.12 ms in a one-off
  timing, 1.6 % of a 1000-step run of the embedded model: README, Benchmarks);
- `start(function, ...)` begins a long job there (a pipeline call) and returns its future; the
  job calls `serve_pending()` between its steps, so that short jobs asked for meanwhile (the
  decode of a frame the browser is about to show) and the steps of generators run then, instead
  of after the whole job.

A forked process (a ZeroGPU worker: `spaces.GPU` runs each generation in a child forked from the
server) inherits none of the parent's threads, and its copies of the queues may hold work that the
parent's thread would have run. `os.register_at_fork` therefore gives the child fresh queues and
its own torch thread, started on first use: there it is the only thread that calls torch, as here.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from pipelines.engine import batching

Result = TypeVar("Result")
Job = tuple[Callable[[], object], Future]
_DONE = object()  # what a stream's queue holds after its generator's last item
# What a generator yields for a turn that has nothing to hand over: its step ran, its consumer is not woken. (A class
# of 30 students training handed over 1,000 items a second, each waking a thread that then competed for the GIL.)
PASS = object()


@dataclass(eq=False)  # by identity: kept in a set (`_open_streams`)
class _Stream:
    """A generator run step by step on the torch thread; its items (or its error) go to `items`."""

    generator: Iterator
    items: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    closed: threading.Event = field(default_factory=threading.Event)  # set by the consumer: stop at the next step
    finished: threading.Event = field(default_factory=threading.Event)  # set here: the generator is done or closed

    def advance(self) -> bool:
        """Run one step; False once the generator has ended (exhausted, failed, or closed by the consumer)."""
        try:
            if self.closed.is_set():
                self.generator.close()
                return self.finish()
            item = next(self.generator)
            if item is not PASS:
                self.items.put(item)
            return True
        except StopIteration:
            self.items.put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            self.items.put(error)
        return self.finish()

    def finish(self) -> bool:
        self.finished.set()
        return False


_ready = threading.Condition()
_short_jobs: deque[Job] = deque()  # single model calls, decodes, loads: also run between a long job's steps
_long_jobs: deque[Job] = deque()  # whole pipeline calls
_streams: deque[_Stream] = deque()  # written-out loops: one step each, in turn, whenever nothing else waits
_stepped: deque[_Stream] = deque()  # loops that took their step this round: their next one comes in the next round
_open_streams: set[_Stream] = set()  # loops begun and not yet ended (`idle`)
_jobs_in_hand = 0  # jobs queued or running (`idle`)


def _serve_forever() -> None:
    while True:
        with _ready:
            _ready.wait_for(lambda: _short_jobs or _long_jobs or _streams or _stepped or batching.waiting())
            jobs = _short_jobs or _long_jobs
            job = jobs.popleft() if jobs else None
            stream = _streams.popleft() if job is None and _streams else None
        if job is not None:
            batching.spawn(_do, *job)  # runs until it ends or waits at a UNet call (pipelines/engine/batching.py)
        elif stream is not None:
            batching.spawn(_step, stream)
        else:  # every loop has taken its step or waits at its UNet call, so has every job: run those calls together
            if batching.waiting():
                batching.run_batch()
            with _ready:
                _new_round()


def _new_round() -> None:
    """The loops that took their step may take the next. Rounds keep a loop whose model is not batched (its steps
    never wait) to one step per round, instead of all its steps before anyone else's batch runs."""
    _streams.extend(_stepped)
    _stepped.clear()


def _do(function: Callable[[], object], future: Future) -> None:
    global _jobs_in_hand
    try:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function())
            except BaseException as error:  # handed to whoever waits on the future
                future.set_exception(error)
    finally:
        with _ready:
            _jobs_in_hand -= 1


def _step(stream: _Stream) -> None:
    if stream.advance():
        with _ready:
            _stepped.append(stream)  # its next step after the other streams' next steps and the batch waiting


def _queue(function: Callable[[], object], jobs: deque[Job]) -> Future:
    global _jobs_in_hand
    future: Future = Future()
    _started()
    with _ready:
        jobs.append((function, future))
        _jobs_in_hand += 1
        _ready.notify()
    return future


_thread: threading.Thread | None = None  # started on first use, once per process


def _started() -> None:
    """Start this process's torch thread if it has none yet (at the first job, and again in a forked child)."""
    global _thread
    with _ready:
        if _thread is None:
            _thread = threading.Thread(target=_serve_forever, name="torch", daemon=True)
            _thread.start()


def _forget_parent_thread() -> None:
    """In a forked child: the parent's torch thread and its queued work did not come along; start afresh."""
    global _ready, _thread, _jobs_in_hand
    _ready = threading.Condition()
    _short_jobs.clear()
    _long_jobs.clear()
    _streams.clear()
    _stepped.clear()
    _open_streams.clear()
    _jobs_in_hand = 0
    _thread = None


os.register_at_fork(after_in_child=_forget_parent_thread)


def on_torch_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def on_event_loop() -> bool:
    """Whether this thread runs a coroutine of an asyncio event loop now: the web server's. Gradio closes a cancelled
    run's generator there (a client's cancel, a closed page), synchronously; waiting there for the run's step on the
    torch thread would hold up every user's requests and updates meanwhile (0.8 s in a class of 30: docs/serving.md).
    A loop running with no task in it (Playwright's sync API, on the tests' main thread) is not such a case."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no event loop runs in this thread
        return False


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
    """Run the short jobs queued meanwhile, then one step of each generator that waits; called by a long job on
    the torch thread between its steps."""
    while True:
        with _ready:
            if not _short_jobs:  # with batching, the loops' steps run while this job waits at its UNet call
                if not batching.in_task():  # a round for the loops between each of this job's steps
                    _new_round()
                waiting = 0 if batching.in_task() else len(_streams)
                break
            job = _short_jobs.popleft()
        _do(*job)
    for _ in range(waiting):
        with _ready:
            stream = _streams.popleft()
        _step(stream)


def steps(generator: Iterator[Result]) -> Iterator[Result]:
    """`generator` run on the torch thread, ahead of the consumer; closing this closes it there (after its step;
    the closing thread waits for that, unless it is the web server's event loop)."""
    if on_torch_thread():  # nobody else could run it
        yield from (item for item in generator if item is not PASS)
        return
    stream = _Stream(generator)
    _started()
    with _ready:
        _streams.append(stream)
        _open_streams.add(stream)
        _ready.notify()
    try:
        while (item := stream.items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stream.closed.set()
        if on_torch_thread():  # finalised here by the garbage collector: none of its steps is running
            stream.advance()
        if not on_event_loop():  # there, the torch thread closes it at its next turn, unwaited
            stream.finished.wait()
        with _ready:
            _open_streams.discard(stream)  # (a parent's stream closed in a forked child was never in its set)


def idle() -> bool:
    """No loop is running and no job is queued or running."""
    with _ready:
        return not (_open_streams or _jobs_in_hand)


def wait_until_idle(quiet_seconds: float, poll_seconds: float = 0.05) -> None:
    """Return once the thread has been `idle` for `quiet_seconds` on end: background work (the warm-up's next load)
    then begins without delaying a visitor's run, which may load its model as a short job before its loop begins."""
    quiet_since = None
    while True:
        now = time.monotonic()
        if not idle():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_seconds:
            return
        time.sleep(poll_seconds)


def set_num_threads(count: int) -> None:
    """torch's thread count on the torch thread (it is kept per thread; other threads must not touch torch).

    Only when it changes: setting it to the count it already had (2 on 2 cores) made the text-to-image
    benchmark's plain call 1.51 s instead of 0.50 s (README: Benchmarks).
    """
    if run(torch.get_num_threads) != count:
        run(torch.set_num_threads, count)
