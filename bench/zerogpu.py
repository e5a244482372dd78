"""What ZeroGPU's runtime costs a call: the app under the real `spaces` (ZeroGPU mode, the tests' harness) against the
same app served plainly, on this machine's CPU.

    python -m bench.zerogpu --out bench/results-zerogpu.md     # ~3 minutes on 2 CPU cores

Two servers of app.py in subprocesses (`tests/zerogpu_server.py`; torch on both, as in tests/test_zerogpu_runtime.py):
one under `spaces` with its device API stood in locally (`tests/zerogpu_device_api.py`: every GPU granted at once, so
what is timed is the runtime's own work: the fork or reuse of a worker, the pickling of arguments and frames), one
plain. Through gradio_client, one call at a time: a tiny call (Unconditional, DDIM, 1 step, 1 image) first on a fresh
server (the ZeroGPU one forks its worker then) and then `--repeats` times (the worker reused); then each default run
of Unconditional and Text to image, its first streamed update and its result. And, in this process, the bytes
`spaces` pickles for a streamed frame of a 512x512 latent model (a tiny random model of Stable Diffusion's shapes:
64x64x4 latents, a VAE that scales by 8): what each frame costs to hand from the worker to the server.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

from tests.zerogpu_device_api import DeviceApi
from tests.zerogpu_server import Server

PROMPT = "a large red circle on the left"


def timed(client: object, inputs: tuple, api_name: str) -> tuple[float, float]:
    """Seconds to the first streamed update and to the result of one job."""
    started = time.perf_counter()
    job = client.submit(*inputs, api_name=api_name)
    while not job.outputs() and not job.done():
        time.sleep(0.002)
    first = time.perf_counter() - started
    job.result()
    return first, time.perf_counter() - started


def server_times(server: Server, repeats: int) -> dict[str, float]:
    from pipelines import text_to_image, unconditional

    client = server.client
    tiny = ("shapes-ddpm", "DDIM", 1, 0, False, 1)
    times = {"first tiny call": timed(client, tiny, "/unconditional")[1]}
    times["tiny call"] = statistics.median(timed(client, tiny, "/unconditional")[1] for _ in range(repeats))
    pixel = (unconditional.DEFAULT_MODEL, unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS, 0, False, 4)
    text = (text_to_image.DEFAULT_MODEL, PROMPT, "", text_to_image.DEFAULT_GUIDANCE_SCALE)
    text += (text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS, 0, False, 4)
    runs_of = (("unconditional", pixel, "/unconditional"), ("text to image", text, "/text_to_image"))
    for name, inputs, api_name in runs_of:
        timed(client, inputs, api_name)  # its model loaded and warm
        runs = [timed(client, inputs, api_name) for _ in range(repeats)]
        times[f"{name}: first update"] = statistics.median(first for first, _ in runs)
        times[f"{name}: result"] = statistics.median(result for _, result in runs)
    return times


def frame_bytes() -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The pickled size of a streamed frame of a tiny 512x512 latent model (a `LatentFrame` pickles as a plain
    `Frame`, its x̂0 decoded: what a ZeroGPU worker sends the server), and the shapes of its two pictures."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from pipelines import text_to_image

    torch.manual_seed(0)
    embedded = Path("assets/models/shapes-sd")  # its tokenizer and text encoder (small); the rest random, SD's shapes
    tokenizer = CLIPTokenizer.from_pretrained(embedded / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(embedded / "text_encoder")
    blocks = 4  # Stable Diffusion's VAE: three halvings, 512 pixels from 64 latents
    vae = AutoencoderKL(
        block_out_channels=(8,) * blocks,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=512,
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=text_encoder.config.hidden_size,
        attention_head_dim=2,
        norm_num_groups=4,
        layers_per_block=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(clip_sample=False),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    frames = text_to_image.stream_prompt(pipeline, PROMPT, "", 5.0, 2, 0, 1)
    frame = next(frames)
    frames.close()
    picture = pickle.loads(pickle.dumps(frame))
    return len(pickle.dumps(frame)), picture.noisy_sample.shape, picture.predicted_original.shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-zerogpu-"))
    for server in ("zerogpu", "plain"):
        (folder / server).mkdir()
    api = DeviceApi().start()
    times = {}
    try:
        zero = Server(
            folder / "zerogpu",
            SPACES_ZERO_GPU="true",
            SPACES_ZERO_DEVICE_API_URL=api.url,
            ZEROGPU_OFFLOAD_DIR=str(folder / "offload"),
            ZEROGPU_MMAP_AUTOPRUNE_PATTERN=str(folder / "never" / "*"),
        )
        try:
            times["ZeroGPU (spaces)"] = server_times(zero, args.repeats)
            workers = len({parameters.get("pid") for path, parameters in api.requests if path == "/allow"})
        finally:
            zero.close()
        plain_environment = {name: value for name, value in os.environ.items() if not name.startswith("SPACES_ZERO")}
        plain = Server(folder / "plain", **{**plain_environment, "SPACES_ZERO_GPU": "false"})
        try:
            times["plain"] = server_times(plain, args.repeats)
        finally:
            plain.close()
    finally:
        api.close()
    size, noisy_shape, estimate_shape = frame_bytes()
    steps = list(times["plain"])
    lines = [
        f"`python -m bench.zerogpu --repeats {args.repeats}`: seconds through gradio_client, one call at a time, the",
        f"device API granting every GPU at once (medians of {args.repeats}; the first tiny call once, on a fresh",
        "server).",
        "",
        "| server | " + " | ".join(steps) + " |",
        "| --- | " + " | ".join("---" for _ in steps) + " |",
    ]
    for server, measured in times.items():
        lines.append(f"| {server} | " + " | ".join(f"{measured[step]:.3f}" for step in steps) + " |")
    ratios = ", ".join(f"{step} {times['ZeroGPU (spaces)'][step] / times['plain'][step]:.2f}x" for step in steps)
    lines += [
        "",
        f"ZeroGPU against plain: {ratios}. Worker processes the runtime started: {workers}.",
        f"A streamed frame of a 512x512 latent model, pickled by the worker: {size / 1e6:.2f} MB "
        f"(x_t's latent channels {noisy_shape}, x̂0 decoded {estimate_shape}, uint8).",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
