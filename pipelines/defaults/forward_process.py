"""The forward process's noise schedules (`pipelines/forward_process.py`)."""

# Schedule name -> DDPMScheduler settings; "model" is the chosen model's own scheduler config.
SCHEDULES: dict[str, dict | None] = {
    "linear": {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02},  # DDPM (Ho et al. 2020)
    "scaled linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},  # Stable Diffusion
    "cosine": {"beta_schedule": "squaredcos_cap_v2"},  # Nichol & Dhariwal 2021
    "model": None,
}
NUM_TRAIN_TIMESTEPS = 1000
