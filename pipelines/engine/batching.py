"""Cross-user batching: the UNet calls of different requests run together, as one forward pass (issue 13).

Every request's loop runs on the torch thread (`pipelines.engine.torch_thread`) as a *task*: a greenlet, a
coroutine of that one thread. A request's UNet, wrapped in `BatchedUNet`, does not run the model when
called: it leaves its inputs here and switches back to the torch thread's loop, which goes on running the
other tasks until each of them waits at its own UNet call too (or has nothing left to do). Then
`run_batch` concatenates the waiting calls of one model and input shape (each x_t at its own timestep,
with its own conditioning), runs them as one forward pass, and hands every task its slice of the output;
each request's own scheduler then takes its own step. A request joins at its next UNet call and leaves
when it ends or is stopped (continuous batching, as in Orca and vLLM): nobody waits for a batch to fill.

Why greenlets rather than a thread per request: torch's CPU ops run on an OpenMP pool per calling thread,
and a second thread calling torch made a pipeline 2-3x slower on 2 cores (`bench/threads.py`). Greenlets
switch on the torch thread itself, so every op (text encoder, scheduler steps, decodes, the batched UNet)
stays on its one pool, and diffusers' pipelines run unchanged, their loops paused at the UNet call.

Policy: a forward pass takes at most `MAX_BATCH` rows (images; classifier-free guidance counts two per
image); calls of different models or shapes wait in separate groups, and the group whose oldest call has
waited longest goes first, so groups take turns; except that a new request's first call goes before every
other (its user has no frame yet), so that a request joining while others run does not wait for every other
group's turn before its first frame. Batching changes a result only by float rounding (the
kernels sum in another order at another batch size; tests/test_batching.py states the bound).
`DIFFUSION_PLAYGROUND_BATCHING=0` switches it off: the UNets are not wrapped and every call runs alone, as
a plain diffusers call does.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from greenlet import greenlet

from pipelines.engine import word_maps
from pipelines.engine.stand_in import StandIn

ENABLED = os.environ.get("DIFFUSION_PLAYGROUND_BATCHING", "1") != "0"
# Rows of one forward pass. The pixel UNet gains little per image beyond 32 rows, the latent one down to 64
# (issue 13's timings); a larger pass only delays the first frame of whoever joins next. Measured without the web
# server (`python -m bench.in_process --students 30`): 30 students gain 1.59x with 32, 1.78x with 64, 1.74x with 128.
MAX_BATCH = int(os.environ.get("DIFFUSION_PLAYGROUND_MAX_BATCH", "64"))
# The stated bound on what batching changes: the mean absolute difference of a request's uint8 images, batched
# with others against alone, in 1/255. Batching changes only the order in which the kernels sum; measured: 0 on
# the tests' tiny models, at most 0.000 mean / 1 largest in the load test (bench/results-load.md).
ROUNDING_BOUND = 0.5


class _Task(greenlet):
    """A piece of the torch thread's work that may pause at a UNet call; its parent is the thread's loop."""


@dataclass
class _Call:
    """A UNet call waiting to be batched: its task, inputs, and when it arrived."""

    task: _Task
    unet: torch.nn.Module
    sample: torch.Tensor
    timesteps: torch.Tensor  # one per row of `sample`
    conditioning: dict[str, torch.Tensor]  # encoder_hidden_states, class_labels: one row per row of `sample`
    arrival: int
    first: bool  # the request's first UNet call: its user has seen no frame yet
    recorder: word_maps.WordMapRecorder | None = None  # the request's word maps (engine/word_maps.py), if asked for

    @property
    def key(self) -> tuple:
        """Calls of one key can be concatenated: same model, same shapes past the batch dimension."""
        shapes = tuple((name, value.shape[1:], value.dtype) for name, value in sorted(self.conditioning.items()))
        return id(self.unet), self.sample.shape[1:], self.sample.dtype, shapes


_waiting: list[_Call] = []  # UNet calls whose tasks are paused, oldest first
_arrivals = itertools.count()
statistics = {"forward_passes": 0, "rows": 0, "largest_batch": 0}  # rows: images through the UNet, all passes


def _forget_parent_calls() -> None:
    """In a forked child (a ZeroGPU worker) the parent's paused tasks do not exist."""
    _waiting.clear()


os.register_at_fork(after_in_child=_forget_parent_calls)


def _switch(target: greenlet, *args: object, error: Exception | None = None) -> object:
    """Switch to `target` (raising `error` there, if given), keeping this side's grad mode: torch keeps it per
    thread, and the tasks share the thread."""
    grad_enabled = torch.is_grad_enabled()
    try:
        return target.throw(error) if error is not None else target.switch(*args)
    finally:
        torch.set_grad_enabled(grad_enabled)


def spawn(function: Callable[..., object], *args: object) -> None:
    """Run `function(*args)` on the torch thread as a task: until it ends or pauses at a UNet call."""
    if ENABLED:
        _switch(_Task(function), *args)
    else:
        function(*args)


def in_task() -> bool:
    return isinstance(greenlet.getcurrent(), _Task)


def waiting() -> bool:
    return bool(_waiting)


class BatchedUNet(StandIn):
    """A stand-in for a shared UNet whose calls from different requests are run together (see the module).

    Called outside a task (a test, a plain call), or with inputs it cannot batch, it is the UNet itself.
    Everything else (`config`, `dtype`, `device`) is the wrapped UNet's.
    """

    def __init__(self, unet: torch.nn.Module, recorder: word_maps.WordMapRecorder | None = None) -> None:
        super().__init__(unet)
        self.called = False  # one stand-in per request: has the request called its UNet yet
        self.recorder = recorder

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        return_dict: bool = True,
        **others: object,
    ) -> object:
        conditioning = {
            name: value
            for name, value in (("encoder_hidden_states", encoder_hidden_states), ("class_labels", class_labels))
            if value is not None
        }
        task = greenlet.getcurrent()
        if not isinstance(task, _Task) or any(value is not None for value in others.values()):
            rows = [self.recorder.rows(0, sample.shape[0])] if self.recorder else []
            with word_maps.recording(rows, tuple(sample.shape[-2:])):
                return self.unet(sample, timestep, **conditioning, **others, return_dict=return_dict)
        # the UNet embeds each row's timestep as float32 (diffusers' get_timestep_embedding): the same values here
        timesteps = torch.as_tensor(timestep, device=sample.device).float().reshape(-1).expand(sample.shape[0])
        call = _Call(task, self.unet, sample, timesteps, conditioning, next(_arrivals), not self.called, self.recorder)
        _waiting.append(call)
        self.called = True
        output = _switch(task.parent)  # back once run_batch has run this call with the others
        return output if return_dict else output.to_tuple()


def run_batch() -> None:
    """Run the waiting calls of one group, up to `MAX_BATCH` rows, as one forward pass, and resume their tasks;
    called by the torch thread's loop when every task waits at a UNet call. New requests' first calls go first
    (their users have no frame yet: vLLM schedules new requests' prefills first too), then the group that has
    waited longest."""
    firsts = [call for call in _waiting if call.first]
    group_key = (firsts or _waiting)[0].key
    calls, rows = [], 0
    for call in sorted(_waiting, key=lambda call: not call.first):  # stable: by arrival, first calls before
        if call.key == group_key and (not calls or rows + call.sample.shape[0] <= MAX_BATCH):
            calls.append(call)
            rows += call.sample.shape[0]
    for call in calls:
        _waiting.remove(call)
    _run(calls)


def _run(calls: list[_Call]) -> None:
    first = calls[0]
    sizes = [call.sample.shape[0] for call in calls]
    starts = list(itertools.accumulate([0, *sizes]))
    rows = [call.recorder.rows(start, start + size) for call, start, size in zip(calls, starts, sizes) if call.recorder]
    try:
        with torch.no_grad(), word_maps.recording(rows, tuple(first.sample.shape[-2:])):  # each request's own rows
            output = first.unet(
                torch.cat([call.sample for call in calls]),
                torch.cat([call.timesteps for call in calls]),
                **{name: torch.cat([call.conditioning[name] for call in calls]) for name in first.conditioning},
            )
    except Exception as error:
        if len(calls) == 1:
            _switch(first.task, error=error)
            return
        for call in calls:  # one call's failure (out of memory, say) must not fail the others: each alone
            _run([call])
        return
    statistics["forward_passes"] += 1
    statistics["rows"] += output.sample.shape[0]
    statistics["largest_batch"] = max(statistics["largest_batch"], output.sample.shape[0])
    for call, part in zip(calls, output.sample.split(sizes)):
        _switch(call.task, type(output)(sample=part))


def batched(unet: torch.nn.Module, recorder: word_maps.WordMapRecorder | None = None) -> torch.nn.Module:
    """The UNet a request should call: a `BatchedUNet` over the shared one, or the UNet itself with batching off
    (a `BatchedUNet` still if the request records word maps: called outside a task, it runs alone, recording)."""
    return BatchedUNet(unet, recorder) if ENABLED or recorder else unet
