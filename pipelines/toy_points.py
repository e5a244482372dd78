"""What a student of the Train tab trains on, and how close samples come to it: points from a preset, a drawing or
typed text, checked (on the canvas, 20 to 5,000 of them), and the sliced Wasserstein distance of samples to them.

    from pipelines import toy_points
    points = toy_points.preset_points("ring")  # or drawing_points(mask), parse_points("0.1, 0.2\\n...")
    toy_points.sliced_wasserstein(samples, points)  # 0 when spread alike
"""

from __future__ import annotations

import numpy as np

from pipelines.defaults.toy import CANVAS_LIMIT, MAX_POINTS, MIN_POINTS
from pipelines.lazy import lazy

toy2d = lazy("pipelines.toy2d")

DATA_POINTS = 2000  # points drawn from a preset or a drawing
DRAWING_LIMIT = 1.5  # a drawing's canvas becomes the square [-1.5, 1.5]², where the presets lie
PROJECTIONS = 64  # directions of the sliced Wasserstein distance


def sliced_wasserstein(samples: np.ndarray, data: np.ndarray, projections: int = PROJECTIONS) -> float:
    """The sliced Wasserstein distance (Rabin et al. 2011): how far, on average over directions, the samples' shadow
    on a line must move to cover the data's shadow; 0 when the two clouds are spread alike. Samples off the canvas
    count as on its edge (an untrained network's fly off to hundreds)."""
    return distance_to_shadows(samples, data_shadows(data, projections))


def directions(projections: int) -> np.ndarray:
    angles = np.pi * (np.arange(projections) + 0.5) / projections  # evenly spread directions: no randomness
    return np.stack([np.cos(angles), np.sin(angles)])


def data_shadows(data: np.ndarray, projections: int = PROJECTIONS) -> np.ndarray:
    """The data's shadows on each direction, sorted: (points, projections); a training's data keeps them."""
    return np.sort(data @ directions(projections), axis=0)


def distance_to_shadows(samples: np.ndarray, sorted_data: np.ndarray) -> float:
    samples = np.clip(samples, -CANVAS_LIMIT, CANVAS_LIMIT)
    sample_shadows = np.sort(samples @ directions(sorted_data.shape[1]), axis=0)
    # the data's shadows at the samples' ranks: its quantiles, interpolated between its sorted shadows (as
    # np.quantile does, which took 20 ms a call here, a tenth of a class's snapshot)
    positions = (np.arange(len(samples)) + 0.5) / len(samples) * (len(sorted_data) - 1)
    below = np.floor(positions).astype(int)
    above = np.minimum(below + 1, len(sorted_data) - 1)
    weights = (positions - below)[:, None]
    quantiles = sorted_data[below] * (1 - weights) + sorted_data[above] * weights
    return float(np.abs(sample_shadows - quantiles).mean())


def check_points(points: np.ndarray) -> np.ndarray:
    """(N, 2) float32 points on the canvas, MIN_POINTS to MAX_POINTS of them."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"Points must be pairs (x, y); got an array of shape {points.shape}.")
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        raise ValueError(f"Training takes {MIN_POINTS} to {MAX_POINTS} points; got {len(points)}.")
    off = ~(np.isfinite(points).all(axis=1) & (np.abs(points) <= CANVAS_LIMIT).all(axis=1))
    if off.any():
        x, y = points[off][0]
        raise ValueError(
            f"{off.sum()} of the {len(points)} points are off the canvas [-{CANVAS_LIMIT:g}, {CANVAS_LIMIT:g}]², "
            f"the first ({x:g}, {y:g})."
        )
    return points


def preset_points(data_set: str, seed: int = 0) -> np.ndarray:
    return toy2d.sample_data(data_set, DATA_POINTS, seed)


def drawing_points(drawn: np.ndarray, seed: int = 0, count: int = DATA_POINTS) -> np.ndarray:
    """`count` points spread over the drawn pixels of a canvas (`drawn`: (height, width) bool), each anywhere in its
    pixel; the canvas's longer side spans [-DRAWING_LIMIT, DRAWING_LIMIT], y upwards."""
    drawn = np.asarray(drawn, dtype=bool)
    if drawn.ndim != 2:
        raise ValueError(f"A drawing is a (height, width) mask; got shape {drawn.shape}.")
    rows, columns = np.nonzero(drawn)
    if len(rows) < MIN_POINTS:
        raise ValueError(
            f"The drawing has {len(rows)} drawn pixels; draw at least {MIN_POINTS} (a stroke or a few dots)."
        )
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(rows), count)
    height, width = drawn.shape
    scale = 2 * DRAWING_LIMIT / max(height, width)
    x = (columns[chosen] + rng.random(count) - width / 2) * scale
    y = (height / 2 - rows[chosen] - rng.random(count)) * scale
    return np.stack([x, y], axis=1).astype(np.float32)


def parse_points(text: str) -> np.ndarray:
    """Points typed one per line as "x, y" (or "x y")."""
    points = []
    for number, line in enumerate(str(text).strip().splitlines(), start=1):
        if not line.strip():
            continue
        if len(points) >= MAX_POINTS:
            raise ValueError(f"Training takes at most {MAX_POINTS} points; the text has more.")
        try:
            x, y = (float(value) for value in line.replace(",", " ").split())
        except ValueError:
            raise ValueError(f"Line {number} is not a point 'x, y': {line[:40]!r}.") from None
        points.append((x, y))
    return check_points(np.array(points, dtype=np.float32).reshape(-1, 2))
