"""The model catalogue and the loader: only listed models load, failures say why, device, dtype and cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import torch
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

from pipelines.engine import catalogue, loading
from pipelines.unconditional import PIPELINE_CLASSES

ROOT = Path(__file__).resolve().parent.parent
HUB_RESPONSE = httpx.Response(401, request=httpx.Request("GET", "https://huggingface.co/api/models/x"))


def refusal(model: object, pipeline_classes: tuple[str, ...] = PIPELINE_CLASSES) -> str:
    with pytest.raises(ValueError) as raised:
        loading.load_pipeline(model, pipeline_classes)
    return str(raised.value)


def test_every_other_string_gets_the_same_message_naming_the_allowed_models(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text('{"_class_name": "DDPMPipeline"}')  # an existing diffusers folder
    probes = [
        "/etc",
        "../../../../etc/passwd",
        "assets/models/shapes-ddpm",  # the embedded model by path: only its name is listed
        str(ROOT / "assets" / "models" / "shapes-ddpm"),
        str(tmp_path),
        "/no/such/folder",
        "no-such/model",
        "CompVis/ldm-super-resolution-4x-openimages",  # a real hub id, not listed
        "shapes-sd",  # listed, but for another tab
        "",
        "x" * 1_000_000,
        None,
        42,
    ]
    messages = {refusal(probe) for probe in probes}
    assert len(messages) == 1, messages
    (message,) = messages
    assert "not in this app's catalogue" in message and "shapes-ddpm" in message and "google/ddpm-cifar10-32" in message
    assert "etc" not in message and "passwd" not in message and str(tmp_path) not in message and len(message) < 500


def test_each_tab_offers_its_own_entries_embedded_first() -> None:
    unconditional = [name for _, name in catalogue.choices(PIPELINE_CLASSES)]
    assert unconditional[0] == "shapes-ddpm" and "shapes-sd" not in unconditional
    latent = [name for _, name in catalogue.choices(("StableDiffusionPipeline",))]
    assert latent[0] == "shapes-sd"
    assert catalogue.entry(" shapes-ddpm ", PIPELINE_CLASSES).is_local  # surrounding spaces are forgiven


def test_gpu_entries_are_offered_only_with_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "has_gpu", lambda: False)
    names = {item.name for item in catalogue.entries()}
    assert "google/ddpm-cifar10-32" in names and "stable-diffusion-v1-5/stable-diffusion-v1-5" not in names
    assert "not in this app's catalogue" in refusal("google/ddpm-cat-256")
    monkeypatch.setattr(catalogue, "has_gpu", lambda: True)
    assert catalogue.entry("google/ddpm-cat-256", PIPELINE_CLASSES).hardware == "gpu"
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert catalogue.zero_gpu()


def test_the_operator_file_adds_entries_and_rejects_unknown_fields(tmp_path: Path, tiny_ddpm: str) -> None:
    operator_file = Path(os.environ[catalogue.OPERATOR_FILE_VARIABLE])
    kept = operator_file.read_text()
    try:
        entries = json.loads(kept) + [{"name": "class-demo", "pipeline_class": "DDPMPipeline", "source": tiny_ddpm}]
        operator_file.write_text(json.dumps(entries))
        assert loading.load_pipeline("class-demo", PIPELINE_CLASSES).unet.config.sample_size == 8
        operator_file.write_text(json.dumps(entries + [{"name": "x", "pipeline_class": "DDPMPipeline", "code": 1}]))
        with pytest.raises(ValueError, match="unknown fields"):
            catalogue.entries()
    finally:
        operator_file.write_text(kept)
    assert "not in this app's catalogue" in refusal("class-demo")


@pytest.mark.parametrize(
    "error, words",
    [
        (OSError("Cannot load model"), "OSError"),
        (GatedRepoError("401 gated", response=HUB_RESPONSE), "gated: accept its licence"),
        (RepositoryNotFoundError("404", response=HUB_RESPONSE), "private or no longer exists"),
        (MemoryError(), "not enough memory"),
        (torch.cuda.OutOfMemoryError("CUDA out of memory"), "not enough memory"),
        (OSError("no file named diffusion_pytorch_model.safetensors found"), "no safetensors weights"),
        (FileNotFoundError("scheduler_config.json"), "a file the model needs is missing"),
    ],
)
def test_a_failed_load_says_why_in_plain_words(monkeypatch: pytest.MonkeyPatch, error: Exception, words: str) -> None:
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(catalogue, "has_gpu", lambda: True)
    monkeypatch.setattr(loading.DiffusionPipeline, "download", lambda *args, **kwargs: "/downloaded")
    monkeypatch.setattr(loading.DiffusionPipeline, "from_pretrained", failing)
    message = refusal("google/ddpm-cat-256")
    assert message.startswith("Could not load google/ddpm-cat-256: ") and words in message
    assert "embedded: shapes-ddpm" in message


def test_offline_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """What diffusers raises with no network: an OSError whose context is the connection error."""

    def offline(*args, **kwargs):
        try:
            raise LocalEntryNotFoundError("outgoing traffic has been disabled")
        except LocalEntryNotFoundError as cause:
            raise OSError("Cannot load model google/ddpm-cifar10-32: the model is not fully cached") from cause

    monkeypatch.setattr(loading.DiffusionPipeline, "download", offline)
    assert "cannot reach the Hugging Face hub (no internet)" in refusal("google/ddpm-cifar10-32")


def test_loading_asks_for_safetensors_and_no_remote_code(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def record(call: str, result: object = None):
        def recorded(location, **options):
            calls.append((call, location, options))
            if result is None:
                raise OSError("stop here")
            return result

        return recorded

    monkeypatch.setattr(loading.DiffusionPipeline, "download", record("download", "/hub-cache/cifar"))
    monkeypatch.setattr(loading.DiffusionPipeline, "from_pretrained", record("from_pretrained"))
    refusal("google/ddpm-cifar10-32")
    (_, hub_id, download), (_, folder, load) = calls
    assert hub_id == "google/ddpm-cifar10-32" and download["use_safetensors"] is True
    assert folder == "/hub-cache/cifar"
    assert load["use_safetensors"] is True and load["trust_remote_code"] is False and load["variant"] is None
    assert "custom_pipeline" not in download and "custom_pipeline" not in load


def test_device_and_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = catalogue.entry("shapes-sd", ("StableDiffusionPipeline",))
    half = catalogue.Entry("hub/model", "StableDiffusionPipeline", half_precision=True)
    monkeypatch.delenv(loading.DEVICE_VARIABLE, raising=False)
    monkeypatch.delenv(loading.DTYPE_VARIABLE, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert loading.device() == torch.device("cpu")
    assert loading.dtype(half, torch.device("cpu")) == torch.float32  # no fast half kernels on a CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert loading.device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loading.device() == torch.device("cuda")
    assert loading.dtype(half, torch.device("cuda")) == torch.float16
    assert loading.dtype(sd, torch.device("cuda")) == torch.float32  # the embedded models stay in float32
    monkeypatch.setenv(loading.DEVICE_VARIABLE, "cpu")
    monkeypatch.setenv(loading.DTYPE_VARIABLE, "bfloat16")
    assert loading.device() == torch.device("cpu") and loading.dtype(sd, torch.device("cpu")) == torch.bfloat16
    monkeypatch.setenv(loading.DEVICE_VARIABLE, "tpu")
    with pytest.raises(ValueError, match="must be cpu, cuda or mps"):
        loading.device()


def test_the_cache_evicts_the_least_recently_used_within_its_budget(
    monkeypatch: pytest.MonkeyPatch, tiny_ddpm: str, tiny_grey_ddpm: str, tiny_shapes_ddpm: str
) -> None:
    monkeypatch.setattr(loading, "_cache", type(loading._cache)())
    first = loading.load_pipeline(tiny_ddpm, PIPELINE_CLASSES)
    size = loading.weight_bytes(first)
    monkeypatch.setenv(loading.BUDGET_VARIABLE, str(2.5 * size / 2**30))  # room for two of these
    assert loading.load_pipeline(tiny_ddpm, PIPELINE_CLASSES) is first  # cached
    loading.load_pipeline(tiny_grey_ddpm, PIPELINE_CLASSES)
    loading.load_pipeline(tiny_ddpm, PIPELINE_CLASSES)  # used again: now the grey one is the oldest
    loading.load_pipeline(tiny_shapes_ddpm, PIPELINE_CLASSES)
    assert list(loading._cache) == [tiny_ddpm, tiny_shapes_ddpm]
    assert loading.is_loaded(tiny_ddpm) and not loading.is_loaded(tiny_grey_ddpm)


def test_loads_from_handler_threads_and_the_torch_thread_at_once_do_not_deadlock(
    tiny_ddpm: str, tiny_grey_ddpm: str, tiny_shapes_ddpm: str, tiny_sd: str
) -> None:
    """A first load asked for by a handler thread while loops on the torch thread ask for models too."""
    from concurrent.futures import ThreadPoolExecutor

    from pipelines import unconditional

    loading._cache.clear()
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(unconditional.generate, model=model, steps=3) for model in (tiny_ddpm, tiny_grey_ddpm)]
        loads = [pool.submit(loading.load_pipeline, tiny_shapes_ddpm, PIPELINE_CLASSES)]
        loads.append(pool.submit(loading.load_pipeline, tiny_sd, ("StableDiffusionPipeline",)))
        assert all(future.result(timeout=120) is not None for future in runs + loads)
