"""Soft-mask inpainting through the /inpaint endpoint (`soft_mask`), with gradio_client on localhost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from test_api import call_inpaint

EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "scene-1.png"
SCENE = Image.open(EXAMPLE).convert("RGB").resize((32, 32), Image.Resampling.NEAREST)


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def soft_editor(alpha: np.ndarray, tmp_path: Path) -> dict:
    """What the ImageEditor sends: the scene and one layer of white strokes whose opacity is `alpha` (0..255)."""
    SCENE.save(tmp_path / "background.png")
    layer = np.full((32, 32, 4), 255, np.uint8)
    layer[..., 3] = alpha
    Image.fromarray(layer, "RGBA").save(tmp_path / "layer.png")
    return {
        "background": handle_file(str(tmp_path / "background.png")),
        "layers": [handle_file(str(tmp_path / "layer.png"))],
        "composite": None,
    }


def result_pixels(result: str) -> np.ndarray:
    """The result at the model's 32 px (the app enlarges small results with nearest neighbour)."""
    return np.asarray(Image.open(result).convert("RGB").resize((32, 32), Image.Resampling.NEAREST), dtype=int)


def test_soft_mask_keeps_level_0_exactly_and_says_so(client: Client, tmp_path: Path) -> None:
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 8:16], alpha[:, 16:24], alpha[:, 24:] = 64, 128, 255
    for zoom in (True, False):
        _, _, result, status, _, replay, *_ = call_inpaint(
            client, soft_editor(alpha, tmp_path), zoom=zoom, soft_mask=True
        )
        assert status.startswith("Done: repainted") and "soft mask" in status and replay["maximum"] == 10
        changed = np.abs(result_pixels(result) - np.asarray(SCENE, dtype=int))
        assert changed[:, :8].max() == 0 and changed[:, 8:].mean() > 2


def test_faint_strokes_count_only_with_a_soft_mask(client: Client, tmp_path: Path) -> None:
    """Strokes at opacity 0.25 are no mask at all by default (binary: at least half opaque), a soft one with it."""
    alpha = np.full((32, 32), 64, np.uint8)
    alpha[:, 16:] = 0
    alpha[12:20, 20:28] = 255  # the binary mask: a full stroke on the right
    editor = soft_editor(alpha, tmp_path)
    binary, soft = (
        result_pixels(call_inpaint(client, editor, zoom=False, **mode)[2]) for mode in ({}, {"soft_mask": True})
    )
    original = np.asarray(SCENE, dtype=int)
    assert np.abs(binary[:, :16] - original[:, :16]).max() == 0
    assert np.abs(soft[:, :16] - original[:, :16]).mean() > 2


def test_the_change_grows_with_the_level(client: Client, tmp_path: Path) -> None:
    means = []
    for level in (64, 255):
        alpha = np.full((32, 32), level, np.uint8)
        results = [call_inpaint(client, soft_editor(alpha, tmp_path), seed=seed, soft_mask=True)[2] for seed in (0, 1)]
        means.append(np.mean([np.abs(result_pixels(path) - np.asarray(SCENE, dtype=int)).mean() for path in results]))
    assert means[0] < means[1], means


def test_a_soft_mask_that_is_not_true_or_false_is_refused(client: Client, tmp_path: Path) -> None:
    alpha = np.full((32, 32), 128, np.uint8)
    with pytest.raises(Exception, match="Soft mask takes true or false"):
        call_inpaint(client, soft_editor(alpha, tmp_path), soft_mask="yes")
    with pytest.raises(Exception, match="The mask is empty"):
        call_inpaint(client, soft_editor(np.zeros((32, 32), np.uint8), tmp_path), soft_mask=True)
