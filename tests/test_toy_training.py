"""pipelines/toy_training.py: a student's training, the class trained together, and the checks of what students send."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import toy_points, toy_training
from pipelines.toy_training import TrainingSettings, train_steps

# The stated bound on what training in a class changes: the largest absolute difference of any weight after the
# same training alone and among others. The class changes only the batch size of the products (how the kernels sum);
# measured: 0 (bit-identical) on this machine.
WEIGHTS_BOUND = 1e-5


def last(updates) -> toy_training.TrainingUpdate:
    *_, update = updates
    return update


def test_the_loss_and_the_samples_distance_fall_on_a_ring() -> None:
    update = last(train_steps(toy_points.preset_points("ring"), TrainingSettings(steps=400, seed=1)))
    assert update.is_last and update.step == 400 and len(update.losses) == 400
    assert update.losses[-50:].mean() < 0.5 * update.losses[:50].mean(), update.losses
    assert update.untrained.step == 0 and update.snapshot.step == 400
    assert update.snapshot.ddpm_distance < 0.5 * update.untrained.ddpm_distance
    assert update.snapshot.ddpm.shape == (toy_training.PARTICLES, 2) and update.snapshot.scores.shape == (441, 2)
    assert toy_training.statistics["largest_sampling"] >= 1
    # the score at small t points towards the ring: inwards outside it
    outside = np.linalg.norm(update.snapshot.grid, axis=1) > 1.6
    radial = (update.snapshot.scores[outside] * update.snapshot.grid[outside]).sum(1)
    assert (radial < 0).mean() > 0.9


def test_updates_come_at_every_snapshot_and_the_end_with_every_steps_loss() -> None:
    updates = list(train_steps(toy_points.preset_points("two moons"), TrainingSettings(steps=60, width=32)))
    steps = [update.step for update in updates]
    assert steps == sorted(set(steps)) and steps[-1] == 60 and updates[-1].is_last
    assert np.isfinite(updates[-1].losses).all() and len(updates[-1].losses) == 60  # every step's loss handed over
    snapshot_steps = [update.snapshot.step for update in updates]
    assert snapshot_steps == sorted(set(snapshot_steps))  # each snapshot shown in its own update: none skipped
    assert snapshot_steps[0] == 0 and snapshot_steps[-1] == 60 and len(snapshot_steps) >= toy_training.SNAPSHOTS
    assert all(update.untrained.step == 0 and update.untrained is updates[0].untrained for update in updates)


def weights_after(generator) -> dict[str, np.ndarray]:
    return last(generator).snapshot.weights


def test_a_student_trains_the_same_alone_and_in_a_class() -> None:
    settings = TrainingSettings(steps=150, seed=3, schedule="cosine")
    points = toy_points.preset_points("two moons")
    alone = weights_after(train_steps(points, settings))

    classes_before = toy_training.statistics["largest_class"]
    toy_training.statistics["largest_class"] = 0
    others = [
        train_steps(toy_points.preset_points("word"), TrainingSettings(steps=200, seed=1)),
        train_steps(toy_points.preset_points("ring"), TrainingSettings(steps=120, seed=3, width=32)),
        train_steps(toy_points.preset_points("ring", seed=5), TrainingSettings(steps=300, seed=9)),
    ]
    next(others[0])  # the first joins before the student, the others after
    student = train_steps(points, settings)
    next(student)
    for other in others[1:]:
        next(other)
    running = [student, *others]
    finals: dict[int, toy_training.TrainingUpdate] = {}
    while running:  # every generator read in turn: all train at once on the torch thread
        for generator in list(running):
            update = next(generator, None)
            if update is None:
                running.remove(generator)
            elif update.is_last:
                finals[id(generator)] = update
    in_class = finals[id(student)].snapshot.weights
    assert toy_training.statistics["largest_class"] >= 3  # trained together, not one after another
    assert toy_training.statistics["largest_sampling"] >= 2  # their snapshots sampled together too
    toy_training.statistics["largest_class"] = max(classes_before, toy_training.statistics["largest_class"])
    for name, weight in alone.items():
        assert np.abs(weight - in_class[name]).max() <= WEIGHTS_BOUND, name


def test_stopping_a_student_leaves_the_class() -> None:
    run = train_steps(toy_points.preset_points("ring"), TrainingSettings(steps=2000))
    for update in run:
        if update.step == 5:
            break
    run.close()
    assert not toy_training._students


def test_a_drawing_becomes_points_where_it_was_drawn() -> None:
    drawn = np.zeros((100, 200), dtype=bool)
    drawn[:10, :10] = True  # the top-left corner of a wide canvas
    points = toy_points.drawing_points(drawn, seed=0)
    assert points.shape == (toy_points.DATA_POINTS, 2) and points.dtype == np.float32
    assert (points[:, 0] < -1.3).all() and (points[:, 0] > -1.5).all()  # x: -1.5 at the left edge
    assert (points[:, 1] > 0.6).all() and (points[:, 1] <= 0.75).all()  # y: half of 1.5 at the top of a 2:1 canvas
    assert np.array_equal(points, toy_points.drawing_points(drawn, seed=0))


def test_the_distance_is_zero_for_the_data_and_grows_with_a_shift() -> None:
    data = toy_points.preset_points("two moons")
    assert toy_points.sliced_wasserstein(data, data) < 1e-3  # the data's quantiles, interpolated
    shifted = toy_points.sliced_wasserstein(data + np.array([0.5, 0.0], np.float32), data)
    assert shifted == pytest.approx(0.5 * 2 / np.pi, rel=0.02)  # the mean of |cos| over directions: 2/π
    assert toy_points.sliced_wasserstein(np.full((10, 2), 300.0), data) < 4  # off the canvas: on its edge


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: toy_points.parse_points("0, 0\n1, 1"), "Training takes 20 to 5000 points; got 2"),
        (lambda: toy_points.parse_points("0, 0\n" * 19 + "3, 0.5"), "1 of the 20 points are off the canvas"),
        (lambda: toy_points.parse_points("0, 0\n1 one"), "Line 2 is not a point 'x, y'"),
        (lambda: toy_points.parse_points("0, nan\n" * 30), "30 of the 30 points are off the canvas"),
        (lambda: toy_points.check_points(np.zeros((30, 3))), "Points must be pairs"),
        (lambda: toy_points.drawing_points(np.zeros((64, 64), bool)), "The drawing has 0 drawn pixels"),
        (lambda: TrainingSettings(steps=10**6).check(), "Training steps must be between 50 and 5000"),
        (lambda: TrainingSettings(width=7).check(), "Network width must be one of 32, 64, 128"),
        (lambda: TrainingSettings(schedule="quadratic").check(), "Unknown schedule 'quadratic'"),
        (lambda: TrainingSettings(timestep=1000).check(), "Timestep must be between 0 and 999"),
        (lambda: TrainingSettings(seed=-1).check(), "Seed must be between"),
        (lambda: next(train_steps(np.zeros((5, 2)), TrainingSettings())), "got 5"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_the_scripted_step_is_ddpms_loss_its_gradient_and_adam_as_torch_computes_them() -> None:
    """`toy_class.train_step` (the gradient written out by hand, Adam on flat stacks) against autograd and
    torch.optim.Adam on each student's own network, from the same batch: the same loss and the same weights after."""
    import torch

    from pipelines import toy2d, toy_class

    students = [
        toy_training._enrol(toy_points.preset_points(name), TrainingSettings(seed=seed, width=32, schedule=schedule))
        for name, seed, schedule in (("ring", 0, "linear"), ("word", 5, "cosine"))
    ]
    group = toy_training._class_of(students, training=False)
    before = [{name: value.clone() for name, value in student.parameters.items()} for student in students]
    steps, rates = torch.tensor([0, 0]), torch.tensor([1e-3, 3e-3])
    batch = 16
    losses = toy_class.scripted().train_step(
        group.weights, group.biases, group.flat["parameters"], group.flat["exp_avg"], group.flat["exp_avg_sq"],
        group.data, group.counts, group.alphas_cumprod, group.keys, steps, rates, toy2d.frequencies(), batch,
        *toy_training.BETAS, toy_training.EPSILON,
    )  # fmt: skip
    drawn = toy_class.uniforms(group.keys, steps, 2 * batch, 0)
    noise = toy_class.normals(group.keys, steps, batch, 1)
    for index, student in enumerate(students):
        model = toy2d.NoisePredictor(32)
        model.load_state_dict(before[index])
        timesteps = (drawn[index, batch:] * 1000).long()
        clean = student.data[(drawn[index, :batch] * len(student.data)).long()]
        alpha_prod = student.alphas_cumprod[timesteps][:, None]
        noisy = alpha_prod**0.5 * clean + (1 - alpha_prod) ** 0.5 * noise[index]
        optimizer = torch.optim.Adam(model.parameters(), lr=float(rates[index]), betas=toy_training.BETAS, eps=1e-8)
        loss = (model(noisy, timesteps) - noise[index]).square().mean()
        loss.backward()
        optimizer.step()
        assert abs(loss.item() - losses[index].item()) < 1e-6
        after = group.flat["parameters"][index]
        expected = torch.cat([parameter.detach().flatten() for parameter in model.parameters()])
        assert (after - expected).abs().max() < 1e-6


def test_a_loss_curve_is_drawn_on_a_copy_of_its_trainings_frame() -> None:
    """The frame is drawn once per training (`plots._loss_frame`) and each curve over a copy: a later curve shows none
    of an earlier one's lines."""
    from pipelines.keepsakes import plots

    first, second = np.linspace(1.0, 0.1, 300), np.linspace(0.5, 0.4, 900)
    picture = plots.loss_picture(first, 1500)
    assert not np.array_equal(plots.loss_picture(second, 1500), picture)
    assert np.array_equal(plots.loss_picture(first, 1500), picture)
    assert np.array_equal(plots.loss_picture(np.array([]), 1500), plots._loss_frame(1500, *picture.shape[1::-1]))
