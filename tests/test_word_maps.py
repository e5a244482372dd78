"""pipelines/engine/word_maps.py on a tiny random Stable Diffusion: where each word looks, per request, batched or not.
~20 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import save_tiny_stable_diffusion
from diffusers.models.attention_processor import Attention
from test_batching import BOUND, mean_difference, run_together, solo

from pipelines import text_to_image
from pipelines.engine import batching, word_maps
from pipelines.engine.loading import load_pipeline

PROMPT = "a red circle on the left"


def run(model: str, prompt: str = PROMPT, seed: int = 0, guidance_scale: float = 5.0, batch_size: int = 2, **options):
    return lambda: text_to_image.generate_steps(
        model, prompt, "", guidance_scale, "DPM-Solver++", 6, seed, batch_size, **options
    )


def cross_attention_layers(model: str) -> list[Attention]:
    unet = load_pipeline(model, text_to_image.PIPELINE_CLASSES).unet
    return [module for module in unet.modules() if isinstance(module, Attention) and module.is_cross_attention]


def test_every_step_has_a_map_per_word_the_size_of_the_latent(tiny_sd: str) -> None:
    frames = list(run(tiny_sd, with_word_maps=True)())
    assert [frame.step for frame in frames] == list(range(1, 7))
    for frame in frames:
        assert isinstance(frame, word_maps.WordMapFrame)
        assert frame.words == ("a", "red", "circle", "on", "the", "left")
        assert frame.step_maps.shape == frame.summed_maps.shape == (2, 6, 4, 4)  # 16 px images: 4x4 latents
        assert (frame.step_maps >= 0).all()
    np.testing.assert_allclose(frames[-1].summed_maps, sum(frame.step_maps for frame in frames), rtol=1e-5)
    # each layer's attention is a softmax over the tokens: the words take part of it, at most all, in each layer
    layers = len(cross_attention_layers(tiny_sd))
    assert 0 < frames[0].step_maps.sum(axis=1).max() <= layers + 1e-4
    views = word_maps.word_views(frames[-1], frames[-1].predicted_original[0])
    assert [caption for _, caption in views] == list(frames[-1].words)
    assert views[0][0].shape == (16 * 4, (16 * 2 + 1) * 4, 3) and views[0][0].dtype == np.uint8


def test_maps_change_nothing_in_the_images_and_cost_nothing_when_off(tmp_path: Path) -> None:
    """Off is the processor the UNet came with; installed, an off run calls no projection more than before."""
    model = save_tiny_stable_diffusion(tmp_path / "fresh")  # a UNet no run with maps has touched
    layers = cross_attention_layers(model)
    stock = [type(layer.processor) for layer in layers]
    projections = {"calls": 0}

    def count(*_: object) -> None:
        projections["calls"] += 1

    hooks = [layer.to_q.register_forward_hook(count) for layer in layers]
    try:
        before = solo(run(model, seed=4))
        assert [type(layer.processor) for layer in layers] == stock  # maps never asked for: nothing installed
        calls_before, projections["calls"] = projections["calls"], 0
        with_maps = solo(run(model, seed=4, with_word_maps=True))
        projections["calls"] = 0
        after = solo(run(model, seed=4))
    finally:
        for hook in hooks:
            hook.remove()
    assert all(isinstance(layer.processor, word_maps.WordMapProcessor) for layer in layers)
    assert [type(layer.processor.processor) for layer in layers] == stock
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(with_maps, after)
    assert projections["calls"] == calls_before == 6 * len(layers)  # one query projection per layer and step
    assert word_maps._recording is None


def test_only_the_conditional_half_counts_under_guidance(tiny_sd: str) -> None:
    """At the first step every row sees the same x_T: the guided run's maps are the unguided run's, which has only
    conditional rows; the unconditional half (the empty prompt) would give others."""
    guided = next(iter(run(tiny_sd, guidance_scale=5.0, with_word_maps=True)()))
    unguided = next(iter(run(tiny_sd, guidance_scale=1.0, with_word_maps=True)()))
    np.testing.assert_allclose(guided.step_maps, unguided.step_maps, rtol=1e-5, atol=1e-7)


def test_a_batched_run_gives_its_solo_maps(tiny_sd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four requests in one forward pass (two with maps, one without, one unguided with maps): each its own rows."""
    monkeypatch.setattr(batching, "ENABLED", True)
    runs = [
        run(tiny_sd, "a blue square on the right", seed=1, with_word_maps=True),
        run(tiny_sd, seed=2),
        run(tiny_sd, "a green triangle", seed=3, guidance_scale=1.0, with_word_maps=True, batch_size=1),
        run(tiny_sd, "a small yellow circle", seed=5, with_word_maps=True, batch_size=3),
    ]
    alone = [list(start()) for start in runs]
    for name in batching.statistics:
        batching.statistics[name] = 0
    together = run_together(runs)
    assert batching.statistics["largest_batch"] == 4 + 4 + 1 + 6  # all four in one pass
    for last, frames in zip(together, alone):
        assert mean_difference(last.predicted_original, frames[-1].predicted_original) <= BOUND
        if isinstance(frames[-1], word_maps.WordMapFrame):
            assert last.words == frames[-1].words
            np.testing.assert_allclose(last.summed_maps, frames[-1].summed_maps, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(last.step_maps, frames[-1].step_maps, rtol=1e-4, atol=1e-5)
    assert not isinstance(together[1], word_maps.WordMapFrame)


def test_batching_off_still_records(tiny_sd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_batching = list(run(tiny_sd, seed=6, with_word_maps=True)())[-1].summed_maps
    monkeypatch.setattr(batching, "ENABLED", False)
    solo_maps = list(run(tiny_sd, seed=6, with_word_maps=True)())[-1].summed_maps
    np.testing.assert_allclose(solo_maps, with_batching, rtol=1e-4, atol=1e-5)


def test_a_failed_pass_records_nothing(tiny_sd: str) -> None:
    recorder = word_maps.WordMapRecorder(["red"], guided=False)
    with pytest.raises(RuntimeError), word_maps.recording([recorder.rows(0, 1)], (4, 4)):
        recorder.add(torch.ones(1, 16, 3))
        raise RuntimeError("out of memory")
    assert recorder.calls == 0 and recorder.take(1) == (None, None) and word_maps._recording is None


def test_overlay_and_peak() -> None:
    word_map = np.zeros((8, 8), np.float32)
    word_map[2, 6] = 1.0
    assert word_maps.peak(word_map, (32, 32)) in {(25, 9), (25, 10), (26, 9), (26, 10)}  # cell (6, 2)'s middle
    image = np.zeros((32, 32, 3), np.uint8)
    shown = word_maps.overlay(image, word_map)
    assert shown.shape == (32, 32, 3) and shown[9, 25].sum() > 200 and shown[30, 2].sum() == 0
