"""pipelines/engine/frames.py: uint8 conversion, grids, and the throttle that keeps streaming off the hot path."""

from __future__ import annotations

import time

import numpy as np
import torch

from pipelines.engine.frames import GAP_GREY, Frame, Throttle, image_grid, to_uint8_images


def make_frame(step: int, total_steps: int = 10) -> Frame:
    images = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    return Frame(step, total_steps, 1000 - step, elapsed=0.0, noisy_sample=images, predicted_original=images)


def test_to_uint8_images_maps_minus_one_to_black_and_one_to_white() -> None:
    images = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 5).expand(2, 3, 1, 5)
    converted = to_uint8_images(images)
    assert converted.shape == (2, 1, 5, 3) and converted.dtype == np.uint8
    assert converted[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_image_grid_tiles_a_batch_near_square_and_enlarges() -> None:
    images = np.stack([np.full((2, 3, 3), value, dtype=np.uint8) for value in (10, 20, 30, 40, 50)])
    grid = image_grid(images, gap=1)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2, 3)  # 5 images: 3 columns, 2 rows
    assert grid[0, 0, 0] == 10 and grid[0, 4, 0] == 20 and grid[3, 0, 0] == 40 and grid[2, 0, 0] == GAP_GREY
    assert image_grid(images[:1], scale=4).shape == (8, 12, 3)


def test_throttle_sends_at_most_one_frame_per_interval_and_always_the_last() -> None:
    throttle = Throttle(interval=60.0)
    sent = [throttle.ready(make_frame(step)) for step in range(1, 11)]
    assert sent == [True] + [False] * 8 + [True]


def test_throttle_sends_every_frame_of_a_slow_run() -> None:
    throttle = Throttle(interval=0.0)
    assert all(throttle.ready(make_frame(step)) for step in range(1, 11))


def test_throttle_redraws_a_costly_estimate_only_as_often_as_the_budget_allows() -> None:
    throttle = Throttle("budget test", interval=0.0, max_share=0.05)
    assert throttle.ready(make_frame(1)) and throttle.affordable()  # nothing known yet: the first is drawn at once
    with throttle.timed():
        time.sleep(0.02)  # drawing took 20 ms: with the next one, 40 ms, which is 5 % of 800 ms
    assert 0.02 <= throttle.cost < 0.1
    assert throttle.ready(make_frame(2)) and not throttle.affordable()  # the frame goes, without a new x̂0
    assert throttle.ready(make_frame(10))  # the last frame always goes
    throttle.started -= 2 * throttle.cost / throttle.max_share  # as if the run had gone on long enough
    assert throttle.affordable()


def test_throttle_remembers_what_drawing_cost_in_the_tasks_last_run() -> None:
    first_run = Throttle("memory test", max_share=0.05)
    with first_run.timed():
        time.sleep(0.02)
    next_run, other_task = Throttle("memory test", max_share=0.05), Throttle("another task", max_share=0.05)
    assert not next_run.affordable()  # 20 ms would be more than 5 % of a run just begun
    assert other_task.affordable()
