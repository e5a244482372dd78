"""The arithmetic of the Train tab's class (`pipelines/toy_training.py`): one training step, and one snapshot's
sampling, for every student of one network width at once, each a single TorchScript call.

Why scripted: every torch operation called from Python lets the GIL go and must take it back. In the web server
other threads hold the GIL for milliseconds at a time (the event loop, a handler drawing a picture), so each of a
step's ~150 operations could wait that long: beside a busy Python thread, a class step of 30 students run as plain
Python took 1.4 s instead of 8.9 ms. A scripted function runs all its operations with the GIL let go once (the same
step scripted: 72 ms beside the busy thread; `python -m bench.gil`). The script is
run without the JIT's optimisations (`torch.jit.optimized_execution(False)`): as written, the same floats at any
number of students.

The students' weights come as lists of stacked tensors, (students, out, in) and (students, out) per Linear layer of
`toy2d.NoisePredictor`, views of one flat (students, every weight) tensor that Adam steps in place. Random numbers
are counter-based (`uniforms`): a hash of the student's key, the counter and the number's index, so that a student's
numbers are the same alone and in any class, and the whole class's are drawn in a few operations.
"""

from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace

import torch

from pipelines import toy2d

MASK = 0xFFFFFFFF  # (TorchScript compiles no global names into a function: constants come as default arguments)


def _hash(values: torch.Tensor, mask: int = MASK) -> torch.Tensor:
    """A 32-bit integer hash ("lowbias32", C. Wellons) of int64 `values` in [0, 2³²), elementwise."""
    values = ((values ^ (values >> 16)) * 0x7FEB352D) & mask
    values = ((values ^ (values >> 15)) * 0x846CA68B) & mask
    return values ^ (values >> 16)


def uniforms(keys: torch.Tensor, counters: torch.Tensor, count: int, stream: int, mask: int = MASK) -> torch.Tensor:
    """(students, count) uniform numbers in (0, 1): each a hash of the student's key (their seed), their counter,
    its index and the stream, as a counter-based generator does (Philox: Salmon et al. 2011). The streams: 0 the
    batches' points and timesteps, 1 the batches' noise, 2 the particles' starting noise, 3 DDPM's fresh noise."""
    indices = (counters.unsqueeze(1) * count + torch.arange(count)) * 4 + stream
    bits = _hash((_hash(keys.unsqueeze(1) & mask) ^ _hash(indices & mask)) & mask)
    return ((bits >> 8).float() + 0.5) / 16777216.0  # the top 24 bits: exact in float32, never 0 or 1


def normals(keys: torch.Tensor, counters: torch.Tensor, count: int, stream: int) -> torch.Tensor:
    """(students, count, 2) standard normal numbers from `uniforms` (Box and Muller 1958)."""
    drawn = uniforms(keys, counters, 2 * count, stream).view(-1, 2, count)
    radii, angles = (-2.0 * drawn[:, 0].log()).sqrt(), (2.0 * math.pi) * drawn[:, 1]
    return torch.stack([radii * angles.cos(), radii * angles.sin()], dim=-1)


def forward(weights: list[torch.Tensor], biases: list[torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
    """Every student's `NoisePredictor` layers on their own rows (students, rows, features): each Linear layer one
    batched matrix product over the stacked weights, SiLU between them."""
    return forward_keeping(weights, biases, hidden)[0]


def forward_keeping(
    weights: list[torch.Tensor], biases: list[torch.Tensor], hidden: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """`forward`, and what a backward pass needs: each layer's input, and each SiLU's."""
    inputs: list[torch.Tensor] = []
    activations: list[torch.Tensor] = []
    for index in range(len(weights)):
        inputs.append(hidden)
        hidden = torch.baddbmm(biases[index].unsqueeze(1), hidden, weights[index].transpose(1, 2))
        if index + 1 < len(weights):
            activations.append(hidden)
            hidden = torch.nn.functional.silu(hidden)
    return hidden, inputs, activations


def train_step(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    parameters: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    data: torch.Tensor,
    counts: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    keys: torch.Tensor,
    steps: torch.Tensor,
    rates: torch.Tensor,
    frequencies: torch.Tensor,
    batch_size: int,
    beta1: float,
    beta2: float,
    epsilon: float,
) -> torch.Tensor:
    """One step of DDPM's training for every student (their `steps` taken so far, learning `rates`), the weights
    and Adam's moments (flat, (students, every weight)) stepped in place; returns each student's loss."""
    # 1. each student's batch: points of their data (`counts` of them, padded), a random t, the noise to add
    drawn = uniforms(keys, steps, 2 * batch_size, 0)
    indices = (drawn[:, :batch_size] * counts).long()
    timesteps = (drawn[:, batch_size:] * alphas_cumprod.shape[1]).long()
    noise = normals(keys, steps, batch_size, 1)
    clean = data.gather(1, indices.unsqueeze(-1).expand(-1, -1, 2))
    alpha_prod = alphas_cumprod.gather(1, timesteps).unsqueeze(-1)
    # 2. x_t in one step (DDPM eq. 4)
    hidden = alpha_prod**0.5 * clean + (1 - alpha_prod) ** 0.5 * noise
    # 3. the forward pass, keeping what the backward pass needs
    hidden, inputs, activations = forward_keeping(weights, biases, toy2d.sinusoids(hidden, timesteps, frequencies))
    # 4. the simple loss ‖ε − ε̂(x_t, t)‖² (Ho et al. 2020, eq. 14), each student's the mean over their batch, and its
    # gradient by hand, layer by layer (each student's loss depends on their own weights only)
    error = hidden - noise
    losses = error.square().mean([1, 2])
    upstream = error * (2.0 / (batch_size * 2))
    gradients: list[torch.Tensor] = []
    for index in range(len(weights) - 1, -1, -1):
        gradients.insert(0, upstream.sum(1))  # the bias's
        gradients.insert(0, torch.bmm(upstream.transpose(1, 2), inputs[index]).flatten(1))  # the weight's
        if index > 0:
            upstream = torch.bmm(upstream, weights[index])
            before = activations[index - 1]
            sigmoid = torch.sigmoid(before)
            upstream = upstream * (sigmoid * (1 + before * (1 - sigmoid)))  # SiLU'(z) = σ(z)(1 + z(1 − σ(z)))
    gradient = torch.cat(gradients, dim=1)  # in the state dict's order: each layer's weight, then its bias
    # 5. Adam (Kingma & Ba 2015, algorithm 1), every student at their own step count and learning rate
    taken = (steps + 1).float().unsqueeze(1)
    exp_avg.mul_(beta1).add_(gradient, alpha=1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
    denominator = (exp_avg_sq / (1 - torch.pow(beta2, taken))).sqrt() + epsilon
    parameters.sub_(exp_avg * (rates.unsqueeze(1) / (1 - torch.pow(beta1, taken))) / denominator)
    return losses


def sample(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    alphas_cumprod: torch.Tensor,
    keys: torch.Tensor,
    frequencies: torch.Tensor,
    particles: int,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each student's `particles` from pure noise through `steps` of DDPM and of DDIM (η = 0) from the same noise:
    (students, particles, 2) each. The noise depends on the student's key only: the same at every snapshot."""
    train_timesteps = alphas_cumprod.shape[1]
    # "trailing" spacing (as toy2d's schedulers): the first step at t = T - 1, then every T / steps
    timesteps = (train_timesteps - torch.arange(steps) * (train_timesteps / steps)).round().long() - 1
    ddpm = normals(keys, torch.zeros_like(keys), particles, 2)
    ddim = ddpm
    for index in range(steps):
        timestep = int(timesteps[index])
        alpha_prod = alphas_cumprod[:, timestep].view(-1, 1, 1)
        last = index + 1 == steps
        previous = torch.ones_like(alpha_prod)
        if not last:
            previous = alphas_cumprod[:, int(timesteps[index + 1])].view(-1, 1, 1)
        current = torch.cat([ddpm, ddim], dim=1)
        predicted = forward(weights, biases, toy2d.sinusoids(current, torch.tensor(timestep), frequencies))
        # x̂0 from x_t and ε̂ (DDPM eq. 15), then each sampler's step to the previous timestep
        originals = (current - (1 - alpha_prod).sqrt() * predicted) / alpha_prod.sqrt()
        ddpm_original, ddim_original = originals[:, :particles], originals[:, particles:]
        # DDPM: q(x_prev | x_t, x̂0)'s mean and variance (Ho et al. 2020, eqs. 6-7), over the steps skipped
        alpha = alpha_prod / previous
        mean = (previous.sqrt() * (1 - alpha) * ddpm_original + alpha.sqrt() * (1 - previous) * ddpm) / (1 - alpha_prod)
        ddpm = mean
        if not last:
            deviation = ((1 - previous) / (1 - alpha_prod) * (1 - alpha)).clamp(min=1e-20).sqrt()
            ddpm = mean + deviation * normals(keys, torch.full_like(keys, index), particles, 3)
        # DDIM, η = 0: x_prev = √ᾱ_prev x̂0 + √(1 − ᾱ_prev) ε̂ (Song et al. 2020, eq. 12)
        ddim = previous.sqrt() * ddim_original + (1 - previous).sqrt() * predicted[:, particles:]
    return ddpm, ddim


def scores(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    grid: torch.Tensor,
    timesteps: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    frequencies: torch.Tensor,
) -> torch.Tensor:
    """Each student's score field on `grid` (points, 2) at their own timestep: s(x, t) = −ε̂(x, t) / √(1 − ᾱ_t), the
    noise prediction up to a factor (Song et al. 2021); (students, points, 2)."""
    points = grid.expand(timesteps.shape[0], -1, -1)
    predicted = forward(weights, biases, toy2d.sinusoids(points, timesteps.unsqueeze(1), frequencies))
    return -predicted / (1 - alphas_cumprod.gather(1, timesteps.unsqueeze(1))).sqrt().unsqueeze(-1)


@lru_cache(maxsize=1)
def scripted() -> SimpleNamespace:
    """The three functions compiled by TorchScript (once, at the class's first step: about a second)."""
    return SimpleNamespace(
        train_step=torch.jit.script(train_step), sample=torch.jit.script(sample), scores=torch.jit.script(scores)
    )
