"""The UNet's OpenVINO graphs (pipelines/engine/accelerated.py): exported from a tiny random UNet here, the embedded
latent model's committed beside its weights; same noise as torch, same 8-bit pictures, and never a silent fallback."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_pixel_unet, tiny_text_unet
from diffusers import UNet2DConditionModel, UNet2DModel

from pipelines import text_to_image, unconditional
from pipelines.engine import accelerated, batching, loading, word_maps

TOKENS = 8


@pytest.fixture(scope="module")
def tiny_exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[UNet2DConditionModel, Path]:
    torch.manual_seed(0)
    unet = tiny_text_unet().eval()
    folder = tmp_path_factory.mktemp("tiny-unet")
    unet.save_pretrained(folder)
    accelerated.export(unet, folder, TOKENS)
    return unet, folder


def inputs(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(rows, 4, 4, 4, generator=generator),
        torch.tensor(417),
        torch.randn(rows, TOKENS, 16, generator=generator),
    )


def test_a_tiny_unets_graph_predicts_its_noise_at_any_row_count(tiny_exported) -> None:
    unet, folder = tiny_exported
    assert accelerated.why_not(unet, folder, torch.device("cpu")) is None
    accelerated.prepare(unet, folder, torch.device("cpu"))
    fast = accelerated.of(unet)
    assert isinstance(fast, accelerated.AcceleratedUNet) and fast.config is unet.config and fast.dtype == torch.float32
    before = dict(accelerated.statistics)
    for rows in (1, 3, 8, 64):  # 3: padded to the graph of 4 rows
        sample, timestep, text = inputs(rows, seed=rows)
        with torch.no_grad():
            expected = unet(sample, timestep, encoder_hidden_states=text).sample
            got = fast(sample, timestep, encoder_hidden_states=text).sample
            as_tuple = fast(sample, timestep, encoder_hidden_states=text, return_dict=False)[0]
        assert got.shape == expected.shape and torch.equal(got, as_tuple)
        assert torch.allclose(got, expected, atol=1e-5), (rows, (got - expected).abs().max())
    assert accelerated.statistics["graph"] - before["graph"] == 8 and accelerated.statistics["torch"] == before["torch"]


def test_a_tiny_pixel_unets_graph_predicts_its_noise(tmp_path: Path) -> None:
    """A pixel model's UNet (no text): sample and timestep in, noise out, as `UNet2DModel` gives it."""
    torch.manual_seed(0)
    unet = tiny_pixel_unet().eval()
    unet.save_pretrained(tmp_path)
    accelerated.export(unet, tmp_path)
    accelerated.prepare(unet, tmp_path, torch.device("cpu"))
    fast = accelerated.of(unet)
    assert isinstance(fast, accelerated.AcceleratedUNet)
    before = dict(accelerated.statistics)
    for rows in (1, 5, 32):
        sample = torch.randn(rows, 3, 8, 8, generator=torch.Generator().manual_seed(rows))
        with torch.no_grad():
            expected = unet(sample, torch.tensor(321)).sample
            got = fast(sample, torch.tensor(321))
        assert type(got).__name__ == "UNet2DOutput" and torch.allclose(got.sample, expected, atol=1e-5)
    with torch.no_grad():
        fast(torch.randn(65, 3, 8, 8), torch.tensor(321))  # past 64 rows: torch, counted
    assert accelerated.statistics["graph"] - before["graph"] == 3
    assert accelerated.statistics["torch"] - before["torch"] == 1


def test_calls_the_graph_cannot_take_run_in_torch_and_are_counted(tiny_exported) -> None:
    unet, folder = tiny_exported
    accelerated.prepare(unet, folder, torch.device("cpu"))
    fast = accelerated.of(unet)
    sample, timestep, text = inputs(2)
    before = accelerated.statistics["torch"]
    with torch.no_grad():
        fast(sample, timestep, encoder_hidden_states=text, cross_attention_kwargs={"scale": 1.0})  # another argument
        fast(sample, timestep, encoder_hidden_states=text[:, :4])  # another text length
        fast(torch.randn(65, 4, 4, 4), timestep, encoder_hidden_states=torch.randn(65, TOKENS, 16))  # past 64 rows
        recorder = word_maps.WordMapRecorder(["a"], guided=False)
        with word_maps.recording([recorder.rows(0, 2)], (4, 4)):  # attention must run through the processors
            fast(sample, timestep, encoder_hidden_states=text)
    assert accelerated.statistics["torch"] - before == 4


def test_torch_is_kept_with_the_reason_when_the_graph_cannot_be_used(
    tiny_exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet, folder = tiny_exported
    assert "float32 on a CPU" in accelerated.why_not(unet, folder, torch.device("cuda"))
    assert accelerated.why_not(unet, tmp_path, torch.device("cpu")) == "no graph was exported for it"
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    for file in folder.iterdir():
        (retrained / file.name).write_bytes(file.read_bytes())
    source = json.loads((retrained / "openvino_model.json").read_text())
    (retrained / "openvino_model.json").write_text(json.dumps({**source, "weights_sha256": "0" * 64}))
    assert "other weights" in accelerated.why_not(unet, retrained, torch.device("cpu"))
    other = UNet2DConditionModel.from_pretrained(retrained)
    accelerated.prepare(other, retrained, torch.device("cpu"))
    assert accelerated.of(other) is other
    monkeypatch.setattr(accelerated, "ENABLED", False)
    assert accelerated.why_not(unet, folder, torch.device("cpu")) == "DIFFUSION_PLAYGROUND_ACCELERATE=0"


def test_the_embedded_text_models_graph_is_of_its_weights_and_draws_the_same_pictures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's default run (DPM-Solver++, 25 steps, guidance 5, 4 images): identical 8-bit images, a few seeds."""
    shared = loading.load_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.PIPELINE_CLASSES)
    assert isinstance(accelerated.of(shared.unet), accelerated.AcceleratedUNet)  # committed graph matches (SHA-256)
    prompt = "a large red circle on the left"
    for seed in (0, 7):
        before = accelerated.statistics["graph"]
        fast = text_to_image.generate(prompt=prompt, seed=seed, batch_size=4).final_images
        assert accelerated.statistics["graph"] - before == text_to_image.DEFAULT_STEPS
        with monkeypatch.context() as eager:
            eager.setattr(accelerated, "of", lambda unet: unet)  # torch: as without graphs
            plain = text_to_image.generate(prompt=prompt, seed=seed, batch_size=4).final_images
        assert fast.dtype == np.uint8 and np.array_equal(fast, plain), np.abs(fast.astype(int) - plain).max()


def test_the_embedded_pixel_models_graph_is_of_its_weights_and_draws_the_same_pictures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's default (DPM-Solver++ SDE, 50 steps, 4 images): a stochastic sampler, so a difference in the noise
    predicted could grow into another shape; every 8-bit value is the same, a few seeds."""
    shared = loading.load_pipeline(unconditional.DEFAULT_MODEL, unconditional.PIPELINE_CLASSES)
    assert isinstance(accelerated.of(shared.unet), accelerated.AcceleratedUNet)  # committed graph matches (SHA-256)
    for seed in (0, 11):
        before = accelerated.statistics["graph"]
        fast = unconditional.generate(seed=seed, batch_size=4).predicted_original
        assert accelerated.statistics["graph"] - before == unconditional.DEFAULT_STEPS
        with monkeypatch.context() as eager:
            eager.setattr(accelerated, "of", lambda unet: unet)  # torch: as without graphs
            plain = unconditional.generate(seed=seed, batch_size=4).predicted_original
        assert fast.dtype == np.uint8 and np.array_equal(fast, plain), np.abs(fast.astype(int) - plain).max()


def test_a_unet_whose_entry_allows_it_runs_in_bfloat16_where_the_cpu_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No graph, `bfloat16=True`: a bfloat16 stand-in on a CPU with native bfloat16 (its noise in float32, close to
    float32's), torch elsewhere; never when acceleration is off, nor without the entry's leave."""
    torch.manual_seed(0)
    unet = tiny_pixel_unet(in_channels=6, out_channels=3).eval()  # x_t beside a picture, as super-resolution's
    sample = torch.randn(2, 6, 8, 8, generator=torch.Generator().manual_seed(0))
    accelerated.prepare(unet, tmp_path, torch.device("cpu"))
    assert accelerated.of(unet) is unet  # no graph, no leave: torch
    for native in (False, True):
        monkeypatch.setattr(accelerated, "native_bfloat16", lambda native=native: native)
        accelerated.prepare(unet, tmp_path, torch.device("cpu"), bfloat16=True)
        assert isinstance(accelerated.of(unet), accelerated.Bfloat16UNet) == native
    before = accelerated.statistics["bfloat16"]
    with torch.no_grad():
        got, expected = accelerated.of(unet)(sample, torch.tensor(321)).sample, unet(sample, torch.tensor(321)).sample
    assert accelerated.statistics["bfloat16"] - before == 1
    assert got.dtype == torch.float32 and 0 < (got - expected).abs().max() < 0.1
    other = UNet2DModel.from_config(unet.config)
    monkeypatch.setattr(accelerated, "ENABLED", False)
    accelerated.prepare(other, tmp_path, torch.device("cpu"), bfloat16=True)
    assert accelerated.of(other) is other


def test_the_embedded_super_resolution_model_in_bfloat16_is_within_its_bound_of_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's default (DDIM, 1 step, the mean of 8 samples) on the tab's example photos: every 8-bit value within
    BFLOAT16_BOUND (1/255) of torch's float32, where the CPU has native bfloat16 (else it is float32 itself)."""
    from PIL import Image

    from pipelines import super_resolution
    from pipelines.defaults.super_resolution import DEFAULT_SAMPLES
    from tabs.super_resolution import EXAMPLE_PHOTOS

    shared = loading.load_pipeline(super_resolution.DEFAULT_MODEL, super_resolution.PIPELINE_CLASSES)
    assert isinstance(accelerated.of(shared.unet), accelerated.Bfloat16UNet) == accelerated.native_bfloat16()
    for path, seed in zip(EXAMPLE_PHOTOS, (0, 1, 2, 3)):
        photo, _ = super_resolution.prepare(Image.open(path).convert("RGB"))
        settings = {"image": photo, "seed": seed, "samples": DEFAULT_SAMPLES}
        fast = super_resolution.generate(**settings).final_images
        with monkeypatch.context() as eager:
            eager.setattr(accelerated, "of", lambda unet: unet)  # torch float32
            plain = super_resolution.generate(**settings).final_images
        assert fast.dtype == np.uint8 and np.abs(fast.astype(int) - plain).max() <= accelerated.BFLOAT16_BOUND


def test_batching_runs_every_row_count_from_1_to_64_through_the_graphs() -> None:
    shared = loading.load_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.PIPELINE_CLASSES)
    request = text_to_image.request_pipeline(text_to_image.DEFAULT_MODEL, text_to_image.DEFAULT_SCHEDULER)
    stand_in = request.unet.unet if isinstance(request.unet, batching.BatchedUNet) else request.unet
    assert isinstance(stand_in, accelerated.AcceleratedUNet)  # what batching's passes call (batching._run)
    assert accelerated.STREAMS * max(accelerated.HALF_ROWS) >= batching.MAX_BATCH
    generator = torch.Generator().manual_seed(0)
    before = dict(accelerated.statistics)
    worst = 0.0
    for rows in range(1, batching.MAX_BATCH + 1):
        sample = torch.randn(rows, 4, 8, 8, generator=generator)
        text = torch.randn(rows, 16, shared.unet.config.cross_attention_dim, generator=generator)
        timesteps = torch.full((rows,), 600.0)
        with torch.no_grad():
            got = stand_in(sample, timesteps, encoder_hidden_states=text).sample
            expected = shared.unet(sample, timesteps, encoder_hidden_states=text).sample
        worst = max(worst, (got - expected).abs().max().item())
    assert accelerated.statistics["graph"] - before["graph"] == batching.MAX_BATCH
    assert accelerated.statistics["torch"] == before["torch"]  # no silent fallback
    assert worst < 1e-4, worst


@pytest.mark.parametrize(
    "api_name, inputs",
    [
        ("/unconditional", ("shapes-ddpm", "DPM-Solver++ SDE", 50, 5, False, 4)),  # the tab's defaults
        ("/text_to_image", ("shapes-sd", "a blue square", "", 5.0, "DPM-Solver++", 25, 5, False, 4)),
    ],
)
def test_through_the_server_the_default_runs_are_the_same_as_torchs(
    app_url: str, api_name: str, inputs: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradio_client import Client
    from PIL import Image

    client = Client(app_url, verbose=False)
    before = accelerated.statistics["graph"]
    fast = client.predict(*inputs, api_name=api_name)
    assert accelerated.statistics["graph"] > before
    monkeypatch.setattr(accelerated, "of", lambda unet: unet)  # torch: as without graphs
    plain = client.predict(*inputs, api_name=api_name)
    assert np.array_equal(np.asarray(Image.open(fast[2])), np.asarray(Image.open(plain[2])))


def test_a_prepared_unet_is_freed_with_its_graphs_when_the_cache_lets_it_go(tiny_exported) -> None:
    _, folder = tiny_exported
    unet = UNet2DConditionModel.from_pretrained(folder)
    accelerated.prepare(unet, folder, torch.device("cpu"))
    assert isinstance(accelerated.of(unet), accelerated.AcceleratedUNet)
    alive = weakref.ref(unet)
    del unet
    gc.collect()
    assert alive() is None
