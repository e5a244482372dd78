"""pipelines/toy2d.py: the 2D data sets, the committed noise-prediction networks, their score and reverse process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines import toy2d
from train.train_toy2d import Toy2dConfig, main


def distance_to_data(points: np.ndarray, data: np.ndarray) -> float:
    """Median distance of the points to their nearest data point."""
    return float(np.median(((points[:, None] - data[None]) ** 2).sum(-1).min(1) ** 0.5))


def test_data_sets_are_seeded_and_have_their_shapes() -> None:
    for data_set in toy2d.DATA_SETS:
        points = toy2d.sample_data(data_set, 2000, seed=1)
        assert points.shape == (2000, 2) and points.dtype == np.float32
        assert np.array_equal(points, toy2d.sample_data(data_set, 2000, seed=1))
        assert not np.array_equal(points, toy2d.sample_data(data_set, 2000, seed=2))
        assert np.abs(points).max() < 1.5
    radii = np.linalg.norm(toy2d.sample_data("ring", 2000, 0), axis=1)
    assert abs(radii.mean() - 1) < 0.01 and radii.std() < 0.06
    word = toy2d.sample_data("word", 2000, 0)
    assert np.abs(word[:, 0]).max() > 1.1 and (np.abs(word) < 0.05).all(axis=1).sum() < 2000 / 50
    with pytest.raises(ValueError, match="Unknown data set 'spiral'; choose one of: two moons, ring, word"):
        toy2d.sample_data("spiral", 10, 0)


def test_the_network_takes_one_t_or_one_per_point() -> None:
    model = toy2d.load_model("ring")
    points = torch.randn(5, 2)
    one = model(points, torch.tensor(300))
    assert one.shape == (5, 2)
    torch.testing.assert_close(one, model(points, torch.full((5,), 300)))
    torch.testing.assert_close(one, model(points, torch.tensor([300])))


def test_the_score_points_towards_the_data() -> None:
    # s(x, t) = -eps-hat / sqrt(1 - abar_t): outside the ring it points in, inside it points out
    model = toy2d.load_model("ring")
    points = torch.tensor([[1.8, 0.0], [0.0, -1.8], [0.4, 0.0], [0.0, 0.5]])
    scores = toy2d.score(model, points, 10)
    radial = (scores * points).sum(1)
    assert radial[0] < 0 and radial[1] < 0 and radial[2] > 0 and radial[3] > 0, scores
    with torch.no_grad():
        expected = -model(points, torch.tensor(10)) / (1 - toy2d.alphas_cumprod()[10]).sqrt()
    torch.testing.assert_close(scores, expected)


def test_noised_view_is_the_forward_process_and_the_grid_covers_the_plot() -> None:
    clean = toy2d.noised_view("two moons", 0, seed=4, count=4000)
    assert distance_to_data(clean.noisy, clean.data) < 0.03  # x at t = 0: the data, one step of noise
    noise = toy2d.noised_view("two moons", 999, seed=4, count=4000)
    assert np.abs(noise.noisy.mean(0)).max() < 0.06 and np.abs(noise.noisy.std(0) - 1).max() < 0.05
    assert noise.alpha_prod == pytest.approx(float(toy2d.alphas_cumprod()[999]))
    assert noise.grid.shape == noise.scores.shape == (toy2d.GRID_POINTS**2, 2)
    assert noise.grid.min() == -toy2d.GRID_LIMIT and noise.grid.max() == toy2d.GRID_LIMIT


@pytest.mark.parametrize("data_set", toy2d.DATA_SETS)
def test_the_reverse_process_moves_the_cloud_onto_the_data(data_set: str) -> None:
    steps = list(toy2d.reverse_steps(data_set, 50, seed=0))
    assert [step.step for step in steps] == list(range(1, 51)) and steps[-1].is_last
    assert steps[0].timestep == 999 and all(a.timestep > b.timestep for a, b in zip(steps, steps[1:]))
    data = toy2d.sample_data(data_set, 4000, seed=9)
    reference = distance_to_data(toy2d.sample_data(data_set, 1000, seed=10), data)  # of data points themselves
    start = distance_to_data(steps[0].ddpm, data)
    for particles in (steps[-1].ddpm, steps[-1].ddim):
        assert distance_to_data(particles, data) < min(1.5 * reference, start / 5), (data_set, reference, start)
    assert not np.allclose(steps[-1].ddpm, steps[-1].ddim)  # DDPM adds fresh noise at every step, DDIM none
    again = list(toy2d.reverse_steps(data_set, 50, seed=0))[-1]
    assert np.array_equal(again.ddim, steps[-1].ddim) and np.array_equal(again.ddpm, steps[-1].ddpm)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: toy2d.reverse_steps("ring", 0, 0), "Steps must be between 1 and 1000"),
        (lambda: toy2d.reverse_steps("ring", 10, -1), "Seed must be between 0 and"),
        (lambda: toy2d.noised_view("ring", 1000), "Timestep must be between 0 and 999"),
        (lambda: toy2d.noised_view("moons", 10), "Unknown data set 'moons'"),
    ],
)
def test_bad_input_says_what_is_allowed(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_training_exports_weights_the_app_loads(tmp_path) -> None:
    config = Toy2dConfig(
        output_dir=str(tmp_path),
        checkpoint_path=str(tmp_path / "toy2d-{data_set}.pt"),
        log_path=str(tmp_path / "toy2d-{data_set}.csv"),
        steps=30,
        batch_size=64,
        warmup_steps=5,
        checkpoint_every=30,
        data_set="ring",
    )
    main(config)
    weights = load_file(tmp_path / "ring.safetensors")
    assert all(weight.dtype == torch.float16 for weight in weights.values())
    toy2d.NoisePredictor().load_state_dict({name: weight.float() for name, weight in weights.items()})
    assert (tmp_path / "toy2d-ring.csv").read_text().count("\n") == 31  # a header and a row a step
