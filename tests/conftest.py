"""Shared fixtures: tiny random pipelines saved locally, the app served on localhost, a real Chromium.

Nothing is downloaded: the tiny pipelines are built in the tests (as diffusers' fast tests do) and
listed in an operator file of the model catalogue (`DIFFUSION_PLAYGROUND_MODELS`), named by their
folder, as an operator would list a model; the browser is Debian's Chromium driven by Playwright
with `executable_path`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # screenshots of the browser tests
OPERATOR_FILE = Path(tempfile.mkdtemp(prefix="catalogue-")) / "models.json"
OPERATOR_FILE.write_text("[]")
os.environ["DIFFUSION_PLAYGROUND_MODELS"] = str(OPERATOR_FILE)  # read by pipelines.engine.catalogue at every look-up
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


CLOSE_WAITED_SECONDS = 10.0


@pytest.fixture
def seconds_to_close_on_an_event_loop() -> Callable[[Iterator], float]:
    """How long closing a run takes on an asyncio event loop, as Gradio closes a cancelled run, while the torch thread
    is busy with another user's long job (released afterwards, or after CLOSE_WAITED_SECONDS if the close waits for
    it: a close that does not wait takes far less than that on any machine)."""
    from pipelines.engine import torch_thread

    def close(run: Iterator) -> float:
        release = threading.Event()
        busy = torch_thread.start(release.wait)
        safety = threading.Timer(CLOSE_WAITED_SECONDS, release.set)  # a waiting close would otherwise wait for ever
        safety.start()

        async def close_on_the_loop() -> float:
            started = time.perf_counter()
            run.close()
            return time.perf_counter() - started

        seconds: list[float] = []  # a thread of its own: Playwright's sync API keeps a loop running on the main one
        closer = threading.Thread(target=lambda: seconds.append(asyncio.run(close_on_the_loop())))
        try:
            closer.start()
            closer.join(timeout=30)
            return seconds[0]
        finally:
            release.set()
            safety.cancel()
            busy.result(timeout=10)

    return close


@pytest.fixture
def record_results(monkeypatch: pytest.MonkeyPatch) -> Callable[[object, str], list]:
    """`record_results(module, name)`: from now on, what `module.name` returns is appended to the list returned (the
    app runs in the tests' process, so a browser test can see what the server made of its input)."""

    def record(module: object, name: str) -> list:
        results, function = [], getattr(module, name)

        def recording(*args, **kwargs):
            results.append(function(*args, **kwargs))
            return results[-1]

        monkeypatch.setattr(module, name, recording)
        return results

    return record


def register(folder: Path | str) -> str:
    """List a saved diffusers folder in the catalogue's operator file, named by its path; returns the name."""
    entries = json.loads(OPERATOR_FILE.read_text())
    pipeline_class = json.loads((Path(folder) / "model_index.json").read_text())["_class_name"]
    entries.append({"name": str(folder), "pipeline_class": pipeline_class, "description": "tiny random test model"})
    OPERATOR_FILE.write_text(json.dumps(entries))
    return str(folder)


def tiny_pixel_unet(in_channels: int = 3, out_channels: int | None = None) -> torch.nn.Module:
    """A random 8x8 pixel UNet with one attention level: the tiny DDPMs' (and the graphs' and bfloat16's tests')."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=out_channels or in_channels,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        attention_head_dim=8,
    )


def save_tiny_ddpm(path: Path, channels: int = 3, **scheduler_config) -> str:
    """A randomly initialised 8x8 DDPM pipeline saved as a diffusers folder; returns its path."""
    from diffusers import DDPMPipeline, DDPMScheduler

    torch.manual_seed(0)
    unet = tiny_pixel_unet(channels)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**scheduler_config)).save_pretrained(path)
    return register(path)


@pytest.fixture(scope="session")
def tiny_ddpm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """epsilon-prediction, linear schedule, 100 timesteps, "leading" spacing: diffusers' defaults."""
    return save_tiny_ddpm(tmp_path_factory.mktemp("tiny-ddpm"), num_train_timesteps=100)


@pytest.fixture(scope="session")
def tiny_shapes_ddpm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The embedded model's scheduler settings on a tiny random UNet."""
    from train.train_unconditional import build_scheduler

    return save_tiny_ddpm(tmp_path_factory.mktemp("tiny-shapes-ddpm"), **build_scheduler().config)


@pytest.fixture(scope="session")
def tiny_grey_ddpm(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_ddpm(tmp_path_factory.mktemp("tiny-grey-ddpm"), channels=1, num_train_timesteps=100)


def tiny_text_unet(in_channels: int = 4, num_class_embeds: int | None = None) -> torch.nn.Module:
    """A random text UNet of 4x4 latents and 16-wide text states, the tiny pipelines' (and the graphs' tests')."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=4,
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
        num_class_embeds=num_class_embeds,
    )


def save_tiny_stable_diffusion(path: Path, unet_in_channels: int = 4) -> str:
    """A randomly initialised Stable Diffusion folder (16x16 images, 4x4x4 latents), the embedded model's
    tokenizer and schedule; `unet_in_channels=9` makes it an inpainting model, 7 a 4x upscaler (its latents
    are 4 channels beside the 3 of the low-resolution image, told the noise level as a class). Returns its path."""
    from diffusers import (
        AutoencoderKL,
        DDPMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionUpscalePipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from train.train_text_to_image import MAX_PROMPT_TOKENS, build_scheduler, build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=MAX_PROMPT_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
        scaling_factor=0.08333 if unet_in_channels == 7 else 0.18215,  # the upscaler's VAE has its own
    )
    unet = tiny_text_unet(unet_in_channels, num_class_embeds=1000 if unet_in_channels == 7 else None)
    components = {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "unet": unet}
    if unet_in_channels == 7:
        StableDiffusionUpscalePipeline(
            **components, low_res_scheduler=DDPMScheduler(), scheduler=build_scheduler(), max_noise_level=350
        ).save_pretrained(path)
        return register(path)
    pipeline_class = StableDiffusionInpaintPipeline if unet_in_channels == 9 else StableDiffusionPipeline
    pipeline_class(
        **components,
        scheduler=build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(path)
    return register(path)


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd-inpainting"), unet_in_channels=9)


@pytest.fixture(scope="session")
def tiny_sd_upscaler(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd-upscaler"), unet_in_channels=7)


def tiny_super_resolution_unet(in_channels: int, out_channels: int) -> torch.nn.Module:
    """A random two-level UNet2DModel of 8x8 samples: the denoiser of the tiny super-resolution pipelines."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=out_channels,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=4,
    )


@pytest.fixture(scope="session")
def tiny_ldm_super_resolution(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised LDMSuperResolutionPipeline: VQ autoencoder f = 4 with 3 latent channels, a UNet
    taking the latent and the low-resolution image (6 channels), 100-timestep DDIM."""
    from diffusers import DDIMScheduler, LDMSuperResolutionPipeline, VQModel

    torch.manual_seed(0)
    vqvae = VQModel(
        block_out_channels=(8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=1,
        latent_channels=3,
        num_vq_embeddings=32,
        norm_num_groups=4,
        mid_block_add_attention=False,
    )
    unet = tiny_super_resolution_unet(in_channels=6, out_channels=3)
    path = tmp_path_factory.mktemp("tiny-ldm-super-resolution")
    LDMSuperResolutionPipeline(
        vqvae=vqvae, unet=unet, scheduler=DDIMScheduler(num_train_timesteps=100)
    ).save_pretrained(path)
    return register(path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The app served on localhost for the duration of the test session."""
    import app

    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright. Missing Chromium skips locally but fails in CI, where it must run."""
    executable = shutil.which("chromium")
    if executable is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
