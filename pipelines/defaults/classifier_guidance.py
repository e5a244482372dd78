"""Classifier guidance's defaults (`pipelines/classifier_guidance.py`) and its classifier's targets."""

import json
from functools import lru_cache
from pathlib import Path

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "assets" / "models" / "shapes-classifier"
DEFAULT_MODEL = "shapes-ddpm"  # the classifier was trained on its noise schedule
# Stochastic, as the paper's Algorithm 1: each step draws x_t' ~ N(μ + sΣ∇ log p(y | x_t), Σ), and this
# sampler's step has DDPM's Σ (docs/classifier-guidance.md). The guided and unguided images draw the same noise,
# so they differ by the guidance only.
DEFAULT_SCHEDULER = "DPM-Solver++ SDE"
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE_SCALE = 8.0  # the best of 4, 8, 16 and 32 (docs/classifier-guidance.md, train/evaluate_classifier.py)
MAX_GUIDANCE_SCALE = 100.0


@lru_cache(maxsize=4)
def targets(classifier: str | Path = DEFAULT_CLASSIFIER) -> tuple[str, ...]:
    """The words a target may be: the classifier's colours, then its shapes (its config, read without torch)."""
    config = json.loads((Path(classifier) / "config.json").read_text())
    return (*config["colours"], *config["shapes"])
