"""Train the 2D toy's denoiser live, a whole class at once: each student's own small network
(`toy2d.NoisePredictor`) on their own points, every student's step taken in one batched forward and backward pass.

    from pipelines import toy_points, toy_training
    points = toy_points.preset_points("ring")  # or drawing_points(mask), parse_points("0.1, 0.2\\n...")
    for update in toy_training.train_steps(points, toy_training.TrainingSettings(steps=1500)):
        print(update.step, update.losses[-1], update.snapshot.ddpm_distance, update.untrained.ddpm_distance)

Each update carries the loss of every step so far and the latest *snapshot* of the current weights (taken about
SNAPSHOTS times over a training, and of the untrained weights at step 0): the score field at the chosen t, particles
sampled from pure noise by DDPM and by DDIM, and how far those samples are from the data, the sliced Wasserstein
distance (`toy_points.sliced_wasserstein`).

The class: every student's training runs on the torch thread (`pipelines.engine.torch_thread`) as a written-out loop,
one step per turn, in turn with the generation tabs' loops and between their pipelines' steps. The first student of a
round whose step has not been taken yet takes one step for every student training (`_train_together`): the students'
weights are stacked, each Linear layer of the network becomes one batched matrix product (`torch.baddbmm`) over all
students, each on their own batch, so one forward and one backward pass give every student's loss and gradient
(students of one network width together); Adam then steps every student's weights at their own step count and
learning rate. The snapshots due after a class step are sampled together as well (`_snapshots_together`: every
student's reverse process a greenlet paused at its network call, their calls run as one pass). A student joins at
their first turn and leaves when their loop ends or is closed (Stop, or a user who left), as the UNet calls of
`pipelines/engine/batching.py` do. Each student draws their batches from their own generator, seeded by their seed:
a student's weights do not depend on who else trains, except by float rounding (kernels summing in another order at
another batch size; `tests/test_toy_training.py` states the bound, WEIGHTS_BOUND; measured: bit-identical).
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from pipelines import toy2d, toy_class, toy_points
from pipelines.defaults.toy import DEFAULT_STEPS, DEFAULT_WIDTH, STEPS_RANGE, WIDTHS
from pipelines.engine import torch_thread
from pipelines.forward_process import check_seed, check_timestep

BATCH_SIZE = 128  # points per student per step
LEARNING_RATE, WARMUP_STEPS = 3e-3, 100  # then a cosine decay to 0 at the last step (as train/common.py)
BETAS, EPSILON = (0.9, 0.999), 1e-8  # Adam's (Kingma & Ba 2015)
SNAPSHOTS = 12  # snapshots of the field and the samples over a training, besides the untrained one
SAMPLING_STEPS = 30  # of DDPM and of DDIM, for each snapshot's particles
PARTICLES = 300
# A student's progress is handed to their handler at most this often (and at every snapshot): the tab shows at most 4
# updates a second, and every handover wakes a thread that competes for the GIL with the class's steps
HANDOVER_SECONDS = 0.1


@dataclass(frozen=True)
class TrainingSettings:
    steps: int = DEFAULT_STEPS
    schedule: str = "linear"  # one of toy2d.TOY_SCHEDULES
    width: int = DEFAULT_WIDTH
    timestep: int = 100  # where the score field is drawn
    seed: int = 0  # of the initial weights, the batches and the particles' noise

    def check(self) -> None:
        low, high = STEPS_RANGE
        if not low <= self.steps <= high:
            raise ValueError(f"Training steps must be between {low} and {high}; got {self.steps}.")
        if self.width not in WIDTHS:
            raise ValueError(f"Network width must be one of {', '.join(map(str, WIDTHS))}; got {self.width}.")
        toy2d.schedule_config(self.schedule)
        check_timestep(self.timestep, toy2d.SCHEDULE["num_train_timesteps"])
        check_seed(self.seed)


@dataclass(frozen=True)
class Snapshot:
    """The current weights at one step: their score field, their samples, and how close those are to the data."""

    step: int
    grid: np.ndarray  # where the field is drawn, (points, 2)
    scores: np.ndarray  # s(x, t) = −ε̂(x, t) / √(1 − ᾱ_t) there (Song et al. 2021)
    ddpm: np.ndarray  # particles from pure noise after SAMPLING_STEPS steps of DDPM (Ho et al. 2020, algorithm 2)
    ddim: np.ndarray  # the same noise through DDIM, η = 0 (Song et al. 2020)
    ddpm_distance: float  # sliced Wasserstein distance of the particles to the data
    ddim_distance: float
    weights: dict[str, np.ndarray]  # the network's state dict, float32


@dataclass(frozen=True)
class TrainingUpdate:
    step: int  # training steps done, 0 (untrained) .. total_steps
    total_steps: int
    elapsed: float  # seconds since the training started
    losses: np.ndarray  # the loss of every step so far, (step,)
    snapshot: Snapshot  # the latest
    untrained: Snapshot  # step 0's

    @property
    def is_last(self) -> bool:
        return self.step == self.total_steps


@dataclass(eq=False)
class _Student:
    """One student's training, touched only on the torch thread."""

    settings: TrainingSettings
    model: toy2d.NoisePredictor  # its layers say what to compute (the weights are `parameters`)
    data: torch.Tensor  # (points, 2)
    shadows: np.ndarray  # the data's, sorted (`data_shadows`): what every snapshot's distance compares with
    alphas_cumprod: torch.Tensor
    parameters: dict[str, torch.Tensor]
    exp_avg: dict[str, torch.Tensor]  # Adam's moments
    exp_avg_sq: dict[str, torch.Tensor]
    step: int = 0  # steps taken
    reported: int = 0  # steps the student's loop has handed over
    losses: list[float] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)  # taken, not yet handed on
    snapshot_step: int = -1  # the step of the latest snapshot; -1: none yet, not even the untrained one

    def distance(self, samples: np.ndarray) -> float:
        """The samples' sliced Wasserstein distance to the student's data."""
        return toy_points.distance_to_shadows(samples, self.shadows)

    def snapshot_due(self, share: float = 1.0) -> bool:
        """Whether `share` of the steps between two snapshots have passed since the latest (or this is the last)."""
        every = max(1, self.settings.steps // SNAPSHOTS)
        return self.step == self.settings.steps or self.step - self.snapshot_step >= share * every


@dataclass(frozen=True)
class _Progress:
    """What a student's loop hands on at each turn: the steps taken since its last turn, the snapshots taken."""

    step: int
    losses: list[float]
    snapshots: list[Snapshot]


_students: list[_Student] = []  # those training now, in the order they joined
# batched steps taken; most students in one step's pass; most students' snapshots sampled together
statistics = {"class_steps": 0, "largest_class": 0, "largest_sampling": 0}


def _enrol(points: np.ndarray, settings: TrainingSettings) -> _Student:
    with torch.random.fork_rng(devices=[]):  # the initial weights from the student's seed, nobody else's
        torch.manual_seed(settings.seed)
        model = toy2d.NoisePredictor(settings.width)
    model.requires_grad_(False)
    parameters = {name: parameter.clone() for name, parameter in model.named_parameters()}
    return _Student(
        settings=settings,
        model=model,
        data=torch.from_numpy(points),
        shadows=toy_points.data_shadows(points),
        alphas_cumprod=toy2d.alphas_cumprod(settings.schedule).float(),
        parameters=parameters,
        exp_avg={name: torch.zeros_like(value) for name, value in parameters.items()},
        exp_avg_sq={name: torch.zeros_like(value) for name, value in parameters.items()},
    )


def _learning_rate(step: int, steps: int) -> float:
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _train_together() -> None:
    """One step for every student still training, a forward and backward pass per network width; before it the
    untrained networks' snapshots of those who joined, after it the snapshots due, each set in one batched sampling."""
    if joined := [student for student in _students if student.snapshot_step < 0]:
        _snapshots_together(joined)
    training = [student for student in _students if student.step < student.settings.steps]
    for width in sorted({student.settings.width for student in training}):
        _step(_class_of([student for student in training if student.settings.width == width]))
    for width in set(_classes) - {student.settings.width for student in training}:
        del _classes[width]  # nobody of that width trains any more: let their stacked weights go
    if any(student.snapshot_due() for student in training):  # with those half-way there: students who joined at
        _snapshots_together([student for student in training if student.snapshot_due(0.5)])  # other times fall in step


PARTS = ("parameters", "exp_avg", "exp_avg_sq")  # what each student has of every weight: itself, Adam's moments


@dataclass(eq=False)
class _Class:
    """The students of one width trained together, all they need stacked over them (anew when one joins or leaves)
    for `toy_class`'s scripted arithmetic."""

    students: list[_Student]
    flat: dict[str, torch.Tensor]  # part -> (students, every weight): Adam steps these in place
    weights: list[torch.Tensor]  # each Linear layer's, (students, out, in): views of flat["parameters"]
    biases: list[torch.Tensor]  # (students, out), views too
    data: torch.Tensor  # (students, most points, 2): each student's points, padded
    counts: torch.Tensor  # (students, 1) how many points each has
    alphas_cumprod: torch.Tensor  # (students, T)
    keys: torch.Tensor  # (students,) of their random numbers: their seeds


_classes: dict[int, _Class] = {}  # width -> its class


def _class_of(group: list[_Student], training: bool = True) -> _Class:
    """The group's class, kept between steps while it is the same group: each student's own dictionaries then hold
    views of their row of the stacks, so stepping the stacks in place steps every student. Not `training` (a
    snapshot of some of them), a class of copies, kept by nobody."""
    width = group[0].settings.width
    kept = _classes.get(width)
    if kept is not None and len(kept.students) == len(group) and all(map(operator.is_, kept.students, group)):
        return kept
    shapes = {name: value.shape for name, value in group[0].parameters.items()}
    flat, stacked = {}, {}
    for part in PARTS:
        flat[part] = torch.stack(
            [torch.cat([getattr(student, part)[name].flatten() for name in shapes]) for student in group]
        )
        columns = flat[part].split([shape.numel() for shape in shapes.values()], dim=1)
        stacked[part] = {
            name: column.view(len(group), *shape) for (name, shape), column in zip(shapes.items(), columns)
        }
        for index, student in enumerate(group if training else ()):
            setattr(student, part, {name: values[index] for name, values in stacked[part].items()})
    parameters = stacked["parameters"]
    kept = _Class(
        students=list(group),
        flat=flat,
        weights=[value for name, value in parameters.items() if name.endswith("weight")],
        biases=[value for name, value in parameters.items() if name.endswith("bias")],
        data=torch.nn.utils.rnn.pad_sequence([student.data for student in group], batch_first=True),
        counts=torch.tensor([[len(student.data)] for student in group], dtype=torch.float32),
        alphas_cumprod=torch.stack([student.alphas_cumprod for student in group]),
        keys=torch.tensor([student.settings.seed for student in group]),
    )
    if training:
        _classes[width] = kept
    return kept


def _step(group: _Class) -> None:
    """One step of every student of the class (`toy_class.train_step`: DDPM's simple loss, Adam)."""
    students = group.students
    rates = torch.tensor([_learning_rate(student.step, student.settings.steps) for student in students])
    with torch.jit.optimized_execution(False):  # as written: the same floats at any number of students
        losses = toy_class.scripted().train_step(
            group.weights,
            group.biases,
            group.flat["parameters"],
            group.flat["exp_avg"],
            group.flat["exp_avg_sq"],
            group.data,
            group.counts,
            group.alphas_cumprod,
            group.keys,
            torch.tensor([student.step for student in students]),
            rates,
            toy2d.frequencies(),
            BATCH_SIZE,
            *BETAS,
            EPSILON,
        )
    for student, loss in zip(students, losses.tolist()):
        student.step += 1
        student.losses.append(loss)
    statistics["class_steps"] += 1
    statistics["largest_class"] = max(statistics["largest_class"], len(students))


@torch.no_grad()
def _snapshots_together(students: list[_Student]) -> None:
    """A snapshot of each student's current weights, those of one width together: their particles sampled
    (`toy_class.sample`) and their score fields (`toy_class.scores`), each one call for all."""
    grid = toy2d.grid_points()
    kernels = toy_class.scripted()
    for width in sorted({student.settings.width for student in students}):
        group = _class_of([student for student in students if student.settings.width == width], training=False)
        timesteps = torch.tensor([student.settings.timestep for student in group.students])
        with torch.jit.optimized_execution(False):
            ddpm, ddim = kernels.sample(
                group.weights,
                group.biases,
                group.alphas_cumprod,
                group.keys,
                toy2d.frequencies(),
                PARTICLES,
                SAMPLING_STEPS,
            )
            scores = kernels.scores(
                group.weights, group.biases, grid, timesteps, group.alphas_cumprod, toy2d.frequencies()
            )
        for index, student in enumerate(group.students):
            samples = ddpm[index].numpy(), ddim[index].numpy()
            student.snapshots.append(
                Snapshot(
                    step=student.step,
                    grid=grid.numpy(),
                    scores=scores[index].numpy(),
                    ddpm=samples[0],
                    ddim=samples[1],
                    ddpm_distance=student.distance(samples[0]),
                    ddim_distance=student.distance(samples[1]),
                    weights={name: value.numpy().copy() for name, value in student.parameters.items()},
                )
            )
            student.snapshot_step = student.step
    statistics["largest_sampling"] = max(statistics["largest_sampling"], len(students))


@contextmanager
def _one_thread() -> Iterator[None]:
    """The class's work on one OpenMP thread: its small products lose much from a second one when the cores are busy
    (a step of one student: 8 ms on one thread, 100 ms on two, with the 2 cores shared: docs/train-toy.md)."""
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def _lessons(student: _Student) -> Iterator[_Progress | object]:
    """A student's loop on the torch thread: in the class from its first turn to its end (or its closing). Its
    progress is handed over at most every HANDOVER_SECONDS, at once when a snapshot was taken, and at the end; its
    other turns hand nothing over (`torch_thread.PASS`)."""
    _students.append(student)
    seen, handed = 0, 0.0  # the student's step at its last turn; when it last handed progress over
    try:
        yield torch_thread.PASS  # joined: the next step of the class takes its untrained snapshot first
        while student.reported < student.settings.steps:  # another's turn may have taken its last step
            if student.step == seen:  # no step was taken since this student's last turn: take one, for everyone
                with _one_thread():
                    _train_together()
            seen = student.step
            now = time.perf_counter()
            if not student.snapshots and student.step < student.settings.steps and now - handed < HANDOVER_SECONDS:
                yield torch_thread.PASS
                continue
            progress = _Progress(student.step, student.losses[student.reported : student.step], student.snapshots)
            student.reported, student.snapshots, handed = student.step, [], now
            yield progress
    finally:
        _students.remove(student)


def train_steps(points: np.ndarray, settings: TrainingSettings) -> Iterator[TrainingUpdate]:
    """Train a new network on `points` ((N, 2), on the canvas) with `settings`, in the class; an update at least every
    HANDOVER_SECONDS, at every snapshot (the untrained weights' first) and at the last step. Closing the generator
    ends the training after its current step."""
    settings.check()
    points = toy_points.check_points(points)
    started = time.perf_counter()
    student = torch_thread.run(_enrol, points, settings)
    losses = np.full(settings.steps, np.nan, dtype=np.float32)
    untrained = snapshot = None
    with closing(torch_thread.steps(_lessons(student))) as lessons:
        for progress in lessons:
            losses[progress.step - len(progress.losses) : progress.step] = progress.losses
            for snapshot in progress.snapshots:
                untrained = untrained or snapshot
            if untrained is not None:  # the first update comes with the untrained network's snapshot
                elapsed = time.perf_counter() - started
                yield TrainingUpdate(
                    progress.step, settings.steps, elapsed, losses[: progress.step], snapshot, untrained
                )
