"""DPM-Solver++'s steps with their coefficients computed once per schedule, not at every step of every run.

diffusers' `DPMSolverMultistepScheduler` computes each step's coefficients (α_t, σ_t, λ_t = log α_t − log σ_t,
h = λ_t − λ_s, e^{−h}, ...) from its sigmas at every step: some forty operations on one-value tensors, about half
of its step's time on a CPU (`python -m bench.unconditional`; issue 29). They depend only on the schedule, which is
the same for every run of a model at a number of steps, so `MultistepScheduler` keeps them, per schedule and step,
in one table for the process, computed by the very expressions diffusers uses (Lu et al. 2022, DPM-Solver++,
eqs. 5 and 8, and its SDE variant), in the same order on the same one-value tensors: the steps then differ from
diffusers' only in when the coefficients were computed, never in a bit (`tests/test_solver_steps.py`).

Only DPM-Solver++ and DPM-Solver++ SDE with the midpoint second-order update, predicting ε or v, without thresholding
(the app's samplers of that class on every catalogue model) take the tabled path; any other configuration runs
diffusers' own methods.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import torch
from diffusers import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerOutput

# (schedule, order, step index) -> that step's coefficients; a schedule is a digest of its sigmas and algorithm. An
# entry is a few one-value tensors (~1 kB); the table is emptied when it reaches `MAX_ENTRIES` (a model's runs at
# every step count from 1 to 100 make 10,100 for one sampler).
_tables: dict[tuple[bytes, int, int], tuple[torch.Tensor | None, ...]] = {}
_tables_lock = threading.Lock()
MAX_ENTRIES = 20_000
TABLED_ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++")


@dataclass
class SolverOutput(SchedulerOutput):
    """A step's x_t-1 and, as DDIM's and Euler's steps report it, the x̂0 it was computed from."""

    pred_original_sample: torch.Tensor | None = None


class MultistepScheduler(DPMSolverMultistepScheduler):
    """`DPMSolverMultistepScheduler` whose DPM-Solver++ steps read their coefficients from a table (see module), and
    report the x̂0 they used: DPM-Solver++ solves for the data, so its converted model output is x̂0 itself."""

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        variance_noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> SolverOutput | tuple:
        # diffusers' signature spelled out: callers pass `generator` only to the steps whose signature names it
        output = super().step(model_output, timestep, sample, generator, variance_noise, return_dict)
        if not return_dict or self.config.algorithm_type not in TABLED_ALGORITHMS:
            return output
        return SolverOutput(prev_sample=output.prev_sample, pred_original_sample=self.model_outputs[-1])

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        mu: float | None = None,
        timesteps: list[int] | None = None,
    ) -> None:
        # diffusers' signature spelled out: pipelines look in it for `timesteps` (custom schedules)
        super().set_timesteps(num_inference_steps, device, mu, timesteps)
        config = self.config
        tabled = (
            config.algorithm_type in TABLED_ALGORITHMS
            and config.solver_type == "midpoint"
            and config.prediction_type in ("epsilon", "v_prediction")
            and config.variance_type not in ("learned", "learned_range")
            and not config.thresholding
            and not config.use_flow_sigmas
        )
        # the coefficients depend on the algorithm (the SDE's differ) and the sigmas, nothing else
        schedule = config.algorithm_type.encode() + b"|" + self.sigmas.numpy().tobytes()
        self._schedule = hashlib.blake2b(schedule, digest_size=16).digest() if tabled else None

    def tabled(self) -> bool:
        """Does this schedule's steps read the table (a configuration it holds, timesteps set)?"""
        return getattr(self, "_schedule", None) is not None

    def coefficients(self, order: int) -> tuple[torch.Tensor | None, ...]:
        """This step's coefficients for an update of `order` (0: the model output's conversion to x̂0)."""
        key = (self._schedule, order, self.step_index)
        found = _tables.get(key)
        if found is None:
            found = self._compute(order)
            with _tables_lock:
                if len(_tables) >= MAX_ENTRIES:
                    _tables.clear()
                _tables[key] = found
        return found

    def _compute(self, order: int) -> tuple[torch.Tensor | None, ...]:
        """diffusers' expressions, verbatim, up to where they meet the samples."""
        sigma = self.sigmas[self.step_index]
        if order == 0:  # convert_model_output: x̂0 = (x_t − σ_t ε) / α_t, or α_t x_t − σ_t v
            alpha_t, sigma_t = self._sigma_to_alpha_sigma_t(sigma)
            return alpha_t, sigma_t
        alpha_t, sigma_t = self._sigma_to_alpha_sigma_t(self.sigmas[self.step_index + 1])
        alpha_s0, sigma_s0 = self._sigma_to_alpha_sigma_t(sigma)
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        lambda_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
        h = lambda_t - lambda_s0
        stochastic = self.config.algorithm_type == "sde-dpmsolver++"
        if stochastic:
            sample_coefficient = sigma_t / sigma_s0 * torch.exp(-h)
            output_coefficient = alpha_t * (1 - torch.exp(-2.0 * h))
            noise_coefficient = sigma_t * torch.sqrt(1.0 - torch.exp(-2 * h))
        else:
            sample_coefficient = sigma_t / sigma_s0
            output_coefficient = alpha_t * (torch.exp(-h) - 1.0)
            noise_coefficient = None
        if order == 1:
            return sample_coefficient, output_coefficient, noise_coefficient
        alpha_s1, sigma_s1 = self._sigma_to_alpha_sigma_t(self.sigmas[self.step_index - 1])
        lambda_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
        r0 = (lambda_s0 - lambda_s1) / h
        difference_coefficient = 1.0 / r0  # D1 = (1 / r0) (m0 − m1)
        half = 0.5 * output_coefficient  # the midpoint update's weight of D1
        return sample_coefficient, output_coefficient, noise_coefficient, difference_coefficient, half

    def convert_model_output(self, model_output: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        sample = kwargs.get("sample")
        if args or sample is None or not self.tabled():
            return super().convert_model_output(model_output, *args, **kwargs)
        alpha_t, sigma_t = self.coefficients(0)
        if self.config.prediction_type == "v_prediction":
            return alpha_t * sample - sigma_t * model_output
        return (sample - sigma_t * model_output) / alpha_t

    def dpm_solver_first_order_update(
        self, model_output: torch.Tensor, *args: object, **kwargs: object
    ) -> torch.Tensor:
        sample, noise = kwargs.get("sample"), kwargs.get("noise")
        if args or sample is None or not self.tabled():
            return super().dpm_solver_first_order_update(model_output, *args, **kwargs)
        sample_coefficient, output_coefficient, noise_coefficient = self.coefficients(1)
        if noise_coefficient is None:  # DPM-Solver++ (2M), first order: DDIM's update in λ
            return sample_coefficient * sample - output_coefficient * model_output
        return sample_coefficient * sample + output_coefficient * model_output + noise_coefficient * noise

    def multistep_dpm_solver_second_order_update(
        self, model_output_list: list[torch.Tensor], *args: object, **kwargs: object
    ) -> torch.Tensor:
        sample, noise = kwargs.get("sample"), kwargs.get("noise")
        if args or sample is None or not self.tabled():
            return super().multistep_dpm_solver_second_order_update(model_output_list, *args, **kwargs)
        sample_coefficient, output_coefficient, noise_coefficient, difference_coefficient, half_output_coefficient = (
            self.coefficients(2)
        )
        m0, m1 = model_output_list[-1], model_output_list[-2]
        D0, D1 = m0, difference_coefficient * (m0 - m1)
        if noise_coefficient is None:
            return sample_coefficient * sample - output_coefficient * D0 - half_output_coefficient * D1
        return (
            sample_coefficient * sample
            + output_coefficient * D0
            + half_output_coefficient * D1
            + noise_coefficient * noise
        )
