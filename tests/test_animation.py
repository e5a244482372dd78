"""pipelines/keepsakes/animation.py: the trajectory as an animated WebP and a contact sheet PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from pipelines.engine.frames import Frame, LatentFrame, image_grid
from pipelines.keepsakes import animation
from pipelines.keepsakes.animation import (
    GAP,
    LAST_FRAME_MILLISECONDS,
    MAX_FRAMES,
    Layout,
    contact_sheet,
    frame_picture,
    subsample,
    trajectory_animation,
)


def run(steps: int, batch_size: int = 4, size: int = 32, preview: int | None = None) -> list[Frame]:
    """A run's frames of random images; `preview`: steps before the last shrunk to this size (as unconditional's)."""
    rng = np.random.default_rng(steps)
    frames = []
    for step in range(1, steps + 1):
        side = size if preview is None or step == steps else preview
        noisy, estimate = rng.integers(0, 256, (2, batch_size, side, side, 3), dtype=np.uint8)
        frames.append(Frame(step, steps, steps - step, 0.01 * step, noisy_sample=noisy, predicted_original=estimate))
    return frames


def pictures(path: Path) -> list[np.ndarray]:
    with Image.open(path) as animated:
        return [np.asarray(picture.convert("RGB")) for picture in ImageSequence.Iterator(animated)]


def test_subsample_keeps_the_first_and_the_last_evenly_spread() -> None:
    assert subsample(list(range(1000)), 80)[:3] == [0, 13, 25] and subsample(list(range(1000)), 80)[-1] == 999
    assert len(subsample(list(range(1000)), 80)) == 80
    assert subsample(list(range(81)), 80) == sorted(set(subsample(list(range(81)), 80)))  # no step twice
    assert subsample(list(range(5)), 80) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="at least 2"):
        subsample(list(range(5)), 1)


def test_a_long_run_becomes_a_lossless_animated_webp_of_at_most_max_frames(tmp_path: Path) -> None:
    frames = run(1000)
    path = trajectory_animation(frames, tmp_path / "run.webp")
    with Image.open(path) as animated:
        assert animated.format == "WEBP" and animated.is_animated and animated.n_frames == MAX_FRAMES
        animated.seek(animated.n_frames - 1)
        animated.load()  # WebP reads a frame's duration with its pixels
        assert animated.info["duration"] == LAST_FRAME_MILLISECONDS  # the result stays a moment
    shown = pictures(path)
    # 4 images of 32 px: a 65 px grid enlarged 3x (to at least 160 px) for x_t and for x̂0, side by side
    assert shown[0].shape[1] == 3 * 65 + GAP + 3 * 65 and shown[0].shape[0] > 3 * 65
    for picture, frame in [(shown[0], frames[0]), (shown[-1], frames[-1])]:  # first and last kept, bit for bit
        noisy = image_grid(frame.noisy_sample, scale=3)
        estimate = image_grid(frame.predicted_original, scale=3)
        np.testing.assert_array_equal(picture[-3 * 65 :, : 3 * 65], noisy)
        np.testing.assert_array_equal(picture[-3 * 65 :, 3 * 65 + GAP :], estimate)


def test_each_frame_is_labelled_with_its_step(tmp_path: Path) -> None:
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)  # identical images: only the labels can differ
    frames = [Frame(step, 3, 30 - 10 * step, 0.0, noisy_sample=images, predicted_original=images) for step in (1, 2, 3)]
    shown = pictures(trajectory_animation(frames, tmp_path / "labels.webp"))
    label_rows = shown[0].shape[0] - 5 * 32  # one 32 px image is enlarged 5x to 160 px; the label is above it
    assert label_rows > 10
    for first, second in [(shown[0], shown[1]), (shown[1], shown[2])]:
        assert (first[:label_rows] != second[:label_rows]).any()  # "step 1 / 3" against "step 2 / 3"
        np.testing.assert_array_equal(first[label_rows:], second[label_rows:])
    assert (shown[0][:label_rows] > 128).any()  # white text on the dark bar


def test_smaller_previews_are_drawn_at_the_results_size(tmp_path: Path) -> None:
    frames = run(10, batch_size=1, size=64, preview=32)  # as Unconditional previews large images
    shown = pictures(trajectory_animation(frames, tmp_path / "previews.webp"))
    assert len({picture.shape for picture in shown}) == 1
    np.testing.assert_array_equal(shown[0][-192:, :192], image_grid(frames[0].noisy_sample, scale=6))


def test_latent_frames_are_decoded_only_when_chosen(tmp_path: Path) -> None:
    decoded = []

    def decode(latents: torch.Tensor) -> np.ndarray:
        decoded.append(int(latents))
        return np.full((1, 32, 32, 3), int(latents) % 256, dtype=np.uint8)

    channels = np.zeros((1, 17, 17, 3), dtype=np.uint8)  # 4 latent channels of 8x8, as 2x2 grey tiles
    frames = [
        LatentFrame(step, 1000, 1000 - step, 0.0, channels, torch.tensor(step), decode) for step in range(1, 1001)
    ]
    trajectory_animation(frames, tmp_path / "latent.webp")
    assert sorted(decoded) == [frame.step for frame in subsample(frames, MAX_FRAMES)]  # each chosen frame once
    contact_sheet(subsample(frames, MAX_FRAMES), tmp_path / "sheet.png")  # a subset: nothing decoded again
    assert len(decoded) == MAX_FRAMES


def test_latent_decodes_stop_at_the_budget_and_later_frames_show_the_latest_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr(animation.time, "perf_counter", lambda: clock[0])

    def decode(latents: torch.Tensor) -> np.ndarray:  # each decode takes one second of the fake clock
        clock[0] += 1.0
        return np.full((1, 32, 32, 3), int(latents), dtype=np.uint8)

    channels = np.zeros((1, 17, 17, 3), dtype=np.uint8)
    result = np.full((1, 32, 32, 3), 255, dtype=np.uint8)
    frames = [
        LatentFrame(step, 20, 20 - step, 0.0, channels, torch.tensor(step), decode, result if step == 20 else None)
        for step in range(1, 21)
    ]
    sources = animation.estimate_sources(frames, decode_seconds=3.5)
    assert clock[0] == 3.0  # the first x̂0 and two more: a fourth would pass 3.5 s
    shown = sorted({source.step for source in sources})
    assert shown[0] == 1 and shown[-1] == 20 and len(shown) == 4  # the result is decoded already: free
    assert all(source.step <= frame.step for frame, source in zip(frames, sources))
    assert [source.step for source in sources] == sorted(source.step for source in sources)
    assert animation.estimate_sources(frames, decode_seconds=0) == sources and clock[0] == 3.0  # nothing more
    layout = Layout.of(frames[-1], animation.MAX_SIDE)
    stale = next(index for index, (frame, source) in enumerate(zip(frames, sources)) if source is not frame)
    captions = slice(layout.line_height, 2 * layout.line_height)  # the second line: "x_t", "predicted x0..."
    labelled = np.asarray(frame_picture(frames[stale], layout, sources[stale]))[captions]
    plain = np.asarray(frame_picture(frames[0], layout))[captions]
    assert (labelled != plain).any()  # "predicted x0 of step 1" against "predicted x0"


def test_contact_sheet_is_a_grid_of_labelled_steps_first_and_last_included(tmp_path: Path) -> None:
    frames = run(50)
    sheet = np.asarray(Image.open(contact_sheet(frames, tmp_path / "sheet.png", columns=4, count=12)))
    layout = Layout.of(frames[-1], animation.SHEET_MAX_SIDE)
    width, height = layout.size
    assert sheet.shape[:2] == (3 * height + 2 * GAP, 4 * width + 3 * GAP)  # 12 steps: 3 rows of 4
    np.testing.assert_array_equal(sheet[:height, :width], np.asarray(frame_picture(frames[0], layout)))
    last = sheet[2 * (height + GAP) :, 3 * (width + GAP) :]
    np.testing.assert_array_equal(last, np.asarray(frame_picture(frames[-1], layout)))


def test_without_webp_a_gif_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(animation.features, "check", lambda feature: feature != "webp")
    path = trajectory_animation(run(5), tmp_path / "run.webp")
    assert path.suffix == ".gif"
    with Image.open(path) as animated:
        assert animated.format == "GIF" and animated.n_frames == 5


def test_no_frames_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        trajectory_animation([], tmp_path / "none.webp")
    with pytest.raises(ValueError, match="no frames"):
        contact_sheet([], tmp_path / "none.png")
