"""DPM-Solver++ with tabled coefficients (pipelines/engine/solver_steps.py): diffusers' very steps, bit for bit."""

from __future__ import annotations

import inspect

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler

from pipelines.engine import loading, solver_steps
from pipelines.engine.solver_steps import MultistepScheduler

SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}  # the embedded models' schedule


def sample_with(scheduler_class: type, steps: int, begin: int = 0, **config: object) -> list[torch.Tensor]:
    """Every x_t of a run of `steps` steps (from step `begin`) on a made-up model output, seeded."""
    scheduler = scheduler_class.from_config({**SCHEDULE, **config})
    scheduler.set_timesteps(steps)
    if begin:
        scheduler.set_begin_index(begin)
    noise = torch.Generator().manual_seed(1)
    model = torch.Generator().manual_seed(2)
    sample = torch.randn(2, 3, 8, 8, generator=noise)
    samples = []
    for timestep in scheduler.timesteps[begin:]:
        output = torch.randn(2, 3, 8, 8, generator=model)
        sample = scheduler.step(output, timestep, sample, generator=[noise, torch.Generator().manual_seed(3)])
        sample = sample.prev_sample
        samples.append(sample)
    return samples


@pytest.mark.parametrize("algorithm_type", ["sde-dpmsolver++", "dpmsolver++"])
@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_every_step_is_diffusers_own_bit_for_bit(algorithm_type: str, prediction_type: str) -> None:
    for steps, begin in ((1, 0), (2, 0), (3, 0), (14, 0), (25, 0), (50, 0), (50, 40)):
        settings = {"algorithm_type": algorithm_type, "prediction_type": prediction_type}
        expected = sample_with(DPMSolverMultistepScheduler, steps, begin, **settings)
        for _ in range(2):  # the coefficients computed, then read from the table
            got = sample_with(MultistepScheduler, steps, begin, **settings)
            assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)), (steps, begin)


def test_schedules_of_one_step_count_do_not_share_coefficients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of other schedules at the same step count, one after another, each read their own coefficients."""
    monkeypatch.setattr(solver_steps, "_tables", {})
    for schedule in (
        {},
        {"beta_schedule": "linear"},
        {"beta_schedule": "scaled_linear"},
        {"timestep_spacing": "trailing"},
        {},
    ):
        settings = {"algorithm_type": "sde-dpmsolver++", **schedule}
        expected = sample_with(DPMSolverMultistepScheduler, 20, **settings)
        got = sample_with(MultistepScheduler, 20, **settings)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)), schedule


def test_the_table_is_used_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    compute = MultistepScheduler._compute
    monkeypatch.setattr(MultistepScheduler, "_compute", lambda self, order: calls.append(order) or compute(self, order))
    monkeypatch.setattr(solver_steps, "_tables", {})
    sample_with(MultistepScheduler, 20, algorithm_type="sde-dpmsolver++")
    first = len(calls)
    assert first == 2 * 20  # a conversion and an update per step
    sample_with(MultistepScheduler, 20, algorithm_type="sde-dpmsolver++")
    assert len(calls) == first  # the second run reads them all
    sample_with(MultistepScheduler, 20, algorithm_type="dpmsolver++")
    assert len(calls) == 2 * first  # the ODE's coefficients are not the SDE's
    monkeypatch.setattr(solver_steps, "MAX_ENTRIES", 30)
    sample_with(MultistepScheduler, 20, algorithm_type="sde-dpmsolver++", beta_schedule="linear")
    assert len(solver_steps._tables) <= 30


def test_other_configurations_run_diffusers_own_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MultistepScheduler, "coefficients", lambda *_: pytest.fail("tabled"))
    for settings in (
        {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
        {"algorithm_type": "dpmsolver", "prediction_type": "epsilon", "final_sigmas_type": "sigma_min"},
        {"algorithm_type": "dpmsolver++", "thresholding": True, "prediction_type": "epsilon"},
        {"algorithm_type": "dpmsolver++", "solver_order": 3},
    ):
        expected = sample_with(DPMSolverMultistepScheduler, 10, **settings)
        if settings.get("solver_order") == 3:  # its third-order steps are diffusers'; its first two are tabled
            monkeypatch.undo()
        got = sample_with(MultistepScheduler, 10, **settings)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)), settings


def test_a_step_reports_the_solvers_own_x0_and_takes_the_generator() -> None:
    """Callers (the written-out loops, diffusers' pipelines) pass `generator` only to a step whose signature names it:
    a step of (*args, **kwargs) would have drawn its noise from the global generator instead."""
    assert "generator" in inspect.signature(MultistepScheduler.step).parameters
    scheduler = loading.make_scheduler("DPM-Solver++ SDE", {**SCHEDULE, "prediction_type": "v_prediction"})
    assert isinstance(scheduler, MultistepScheduler)
    assert type(loading.make_scheduler("DPM-Solver++ SDE", SCHEDULE, plain=True)) is DPMSolverMultistepScheduler
    scheduler.set_timesteps(10)
    sample, velocity = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    output = scheduler.step(velocity, scheduler.timesteps[0], sample, generator=torch.Generator().manual_seed(0))
    alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(scheduler.sigmas[0])
    assert torch.equal(output.pred_original_sample, alpha_t * sample - sigma_t * velocity)
