"""Diffusion Playground: watch a diffusion model turn noise into a picture, step by step.

    python app.py        # serves http://localhost:7860

UI only: the layout, then the event wiring. Sampling lives in `pipelines/`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import gradio as gr
import numpy as np

from pipelines import inpainting, text_to_image, unconditional
from pipelines.frames import Frame, LatentFrame, Throttle, image_grid
from pipelines.loading import SCHEDULERS

UNCONDITIONAL_MODELS = [
    ("shapes-ddpm: embedded, 32×32 shapes, trained by this project", unconditional.DEFAULT_MODEL),
    ("google/ddpm-cifar10-32: hub, 32×32 CIFAR-10", "google/ddpm-cifar10-32"),
    ("google/ddpm-cat-256: hub, 256×256 cats (slow on a CPU)", "google/ddpm-cat-256"),
]
LATENT_MODELS = [
    ("shapes-sd: embedded, 32×32 shapes from 8×8 latents, trained by this project", text_to_image.DEFAULT_MODEL),
    (
        "stable-diffusion-v1-5/stable-diffusion-v1-5: hub, 512×512 (slow on a CPU)",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
    ),
    (
        "stable-diffusion-v1-5/stable-diffusion-inpainting: hub, inpainting UNet (slow on a CPU)",
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
    ),
]
EXAMPLE_PROMPTS = [
    ["a large red circle on the left"],
    ["a small blue square"],
    ["a yellow triangle on the top"],
    ["a green circle and a purple square"],
    ["a white triangle in the center"],
]
EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
EXAMPLE_SCENES = sorted(str(path) for path in EXAMPLES_DIR.glob("scene-*.png"))
MAX_BATCH_SIZE = 8  # every tab's batch limit
MAX_SEED = 2**32 - 1
stop_requests: set[str | None] = set()  # sessions whose user pressed Stop; their run ends after its current step
FRAMES_KEPT_SECONDS = 1800  # a session's replay frames are dropped after 30 minutes without use
RESULT_SIZE = 256  # small results are enlarged (nearest neighbour) to about this many pixels, so a download is visible
# Small images are enlarged by the browser: keep their pixels sharp instead of blurring them.
CSS = ".pixelated img, .pixelated canvas { image-rendering: pixelated; object-fit: contain; }"

EXPLANATION = """
**Forward process:** to train the model, Gaussian noise is added to real images step by step until only noise is left.
**Reverse process:** generation runs that backwards. It starts from pure noise and at every step the model removes a
little of it; the left image is the current noisy sample **x_t**. The right image is **x̂₀**, the model's guess at
that step of the clean image it is heading for: blurry at first, sharp as t approaches 0.
"""
LATENT_EXPLANATION = """
**Latent diffusion:** this model denoises a small *latent* (8×8×4 numbers for a 32×32 image), which an autoencoder
then decodes into pixels. The left image shows the latent's 4 channels as grey tiles; the right one is x̂₀ decoded.
The prompt steers every step through cross-attention; **guidance** pushes the prediction away from what the model
would draw without the prompt (1 = no guidance).
"""
INPAINTING_EXPLANATION = """
**Inpainting:** paint over part of an image (or pick an example and paint over one shape), then describe what should
be there. At every step the unpainted part is reset to the original, noised to the current level, so the model only
invents the painted part and makes it fit. Pixels outside the mask are kept exactly.
"""


def whole_number(value: float | None, name: str) -> int:
    if value is None or not np.isfinite(value) or float(value) != int(value):
        raise gr.Error(f"{name} must be a whole number; got {value}.")
    return int(value)


def frame_views(frame: Frame) -> tuple[np.ndarray, np.ndarray, str]:
    """The x_t grid, the x̂0 grid and a status line for one frame."""
    status = f"Step {frame.step} / {frame.total_steps} · t = {frame.timestep} · {frame.elapsed:.2f} s"
    return image_grid(frame.noisy_sample), image_grid(frame.predicted_original), status


def request_stop(request: gr.Request) -> None:
    stop_requests.add(request.session_hash)


def stream_frames(
    start: Callable[[], Iterator[Frame | LatentFrame]], seed: int, done: Callable, request: gr.Request | None
) -> Iterator[tuple]:
    """Stream any task's frames to its tab: x_t, x̂0, result, status, seed, replay slider, frames kept for replay.

    `start()` begins the run (it may raise ValueError for bad settings); `done(last_frame)` is the final
    status line. Throttled to ~10 updates a second, always the last; Stop ends the run between steps.
    """
    session = request.session_hash if request else None
    stop_requests.discard(session)  # a Stop pressed before this run is not meant for it
    frames: list[Frame | LatentFrame] = []
    throttle = Throttle()
    try:
        with closing(start()) as run:  # closing the run (Stop, or the user went away) ends its sampling loop
            for frame in run:
                frames.append(frame)
                if frame.is_last:  # sent below with the result
                    break
                if session in stop_requests:  # checked between steps: the run ends cleanly and keeps its frames
                    status = f"Stopped after step {frame.step} of {frame.total_steps}. The replay slider shows those."
                    gr.Warning(status)
                    noisy, estimate, _ = frame_views(frame)
                    yield noisy, estimate, gr.skip(), status, seed, replay_slider(frames), frames
                    return
                if throttle.ready(frame):
                    noisy, estimate, status = frame_views(frame)
                    yield noisy, estimate, gr.skip(), status, seed, gr.skip(), frames
    except ValueError as error:  # settings, input or model the pipeline refused: tell the user why
        raise gr.Error(str(error)) from error
    except Exception as error:  # anything else (out of memory, a broken model): say what, keep serving
        raise gr.Error(f"Generation failed: {type(error).__name__}: {error}") from error
    finally:
        stop_requests.discard(session)
    scale = max(1, RESULT_SIZE // frame.predicted_original.shape[1])
    result = image_grid(frame.predicted_original, scale=scale)
    noisy, estimate, _ = frame_views(frame)
    yield noisy, estimate, result, done(frame), seed, replay_slider(frames), frames


def run_seed(seed: float, random_seed: bool) -> int:
    """The seed of a run: the one given, or a random one (shown to the user, so the run can be made again)."""
    return random.randint(0, MAX_SEED - MAX_BATCH_SIZE) if random_seed else whole_number(seed, "Seed")


def seeds_text(seed: int, batch_size: int) -> str:
    return f"seed {seed}" if batch_size == 1 else f"seeds {seed}–{seed + batch_size - 1}"


def steps_text(frame: Frame | LatentFrame, steps: int, scheduler: str) -> str:
    calls = f" ({frame.total_steps} model calls)" if frame.total_steps != steps else ""
    return f"{steps} steps of {scheduler}{calls}"


def run_unconditional(
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    settings = {"model": model, "scheduler": scheduler, "steps": steps, "seed": seed, "batch_size": batch_size}
    yield from stream_frames(
        lambda: unconditional.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, "
            f"{seeds_text(seed, batch_size)}."
        ),
        request,
    )


def tell(notices: list[str], toast: Callable[[str], None] = gr.Warning) -> None:
    for notice in notices:
        toast(notice)


def run_text_to_image(
    model: str,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)

    def start() -> Iterator[LatentFrame]:
        tell(text_to_image.prompt_notices(model, prompt))
        return text_to_image.generate_steps(
            model, prompt, negative_prompt, guidance_scale, scheduler, steps, seed, batch_size
        )

    yield from stream_frames(
        start,
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) of “{prompt}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        request,
    )


def run_inpainting(
    model: str,
    editor: dict | None,
    prompt: str,
    negative_prompt: str,
    strength: float,
    zoom: bool,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)

    def start() -> Iterator[LatentFrame]:
        size, multiple = inpainting.model_size(model)
        editor_value = editor or {}
        image, mask, notices = inpainting.prepare(
            editor_value.get("background"), editor_value.get("layers") or [], size, multiple
        )
        tell(notices, gr.Info)  # conversions done to the upload
        tell(text_to_image.prompt_notices(model, prompt, inpainting.PIPELINE_CLASSES))
        return inpainting.generate_steps(
            model, image, mask, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed, zoom=zoom
        )

    yield from stream_frames(
        start,
        seed,
        lambda frame: (
            f"Done: repainted with “{prompt}” in {frame.elapsed:.2f} s, strength {strength:g}"
            f"{', zoomed into the mask' if zoom else ''}, guidance {guidance_scale:g}, "
            f"{steps_text(frame, steps, scheduler)}, {seeds_text(seed, 1)}."
        ),
        request,
    )


def replay_slider(frames: list) -> gr.Slider:
    return gr.Slider(minimum=1, maximum=len(frames), value=len(frames), visible=True)


def replay_step(step: float, frames: list) -> tuple:
    if not frames:
        raise gr.Error("Generate first: the replay shows the steps of the last run.")
    return frame_views(frames[min(max(int(step), 1), len(frames)) - 1])


def seed_inputs() -> tuple[gr.Number, gr.Checkbox]:
    with gr.Row():
        return gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED), gr.Checkbox(
            False, label="Random seed"
        )


def run_buttons() -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        return gr.Button("Generate", variant="primary"), gr.Button("Stop", variant="stop")


def stream_outputs(task: str, noisy_label: str, estimate_label: str) -> list[gr.components.Component]:
    """x_t and x̂0 side by side, status, replay slider, result, and the frames kept for replay."""
    with gr.Row():
        noisy = gr.Image(label=noisy_label, format="png", height=256, elem_classes="pixelated")
        estimate = gr.Image(label=estimate_label, format="png", height=256, elem_classes="pixelated")
    status = gr.Markdown("Press **Generate** to start from pure noise.", elem_id=f"{task}-status")
    replay = gr.Slider(0, 1, value=1, step=1, label="Replay: step", visible=False)
    result = gr.Image(label="Result", format="png", height=320, elem_classes="pixelated")
    # Every step's frame, for the replay slider (previews of at most 128 px: ~50 MB for 1000 steps of 8 32-px
    # images; latent frames keep only their latents until shown); dropped 30 minutes after the last run.
    frames = gr.State([], time_to_live=FRAMES_KEPT_SECONDS)
    return [noisy, estimate, result, status, replay, frames]


with gr.Blocks(title="Diffusion Playground") as demo:
    gr.Markdown("# Diffusion Playground\nWatch diffusion models generate images, one denoising step at a time.")
    with gr.Tab("Unconditional", id="unconditional", elem_id="unconditional-tab"):
        gr.Markdown(EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown(
                    UNCONDITIONAL_MODELS, value=unconditional.DEFAULT_MODEL, label="Model", allow_custom_value=True
                )
                scheduler = gr.Dropdown(list(SCHEDULERS), value=unconditional.DEFAULT_SCHEDULER, label="Scheduler")
                steps = gr.Slider(1, 1000, value=unconditional.DEFAULT_STEPS, step=1, label="Steps")
                seed, random_seed = seed_inputs()
                batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=4, step=1, label="Batch size")
                generate_button, stop_button = run_buttons()
            with gr.Column(scale=2):
                noisy, estimate, result, status, replay, frames = stream_outputs(
                    "unconditional", "x_t: noisy sample", "x̂₀: predicted clean image"
                )

    with gr.Tab("Text to image", id="text-to-image", elem_id="text-to-image-tab"):
        gr.Markdown(LATENT_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                t2i_model = gr.Dropdown(
                    LATENT_MODELS, value=text_to_image.DEFAULT_MODEL, label="Model", allow_custom_value=True
                )
                prompt = gr.Textbox("a large red circle on the left", label="Prompt", max_lines=2)
                negative_prompt = gr.Textbox("", label="Negative prompt", max_lines=2)
                guidance = gr.Slider(
                    1,
                    text_to_image.MAX_GUIDANCE_SCALE,
                    value=text_to_image.DEFAULT_GUIDANCE_SCALE,
                    step=0.5,
                    label="Guidance scale",
                )
                t2i_scheduler = gr.Dropdown(list(SCHEDULERS), value=text_to_image.DEFAULT_SCHEDULER, label="Scheduler")
                t2i_steps = gr.Slider(1, 1000, value=text_to_image.DEFAULT_STEPS, step=1, label="Steps")
                t2i_seed, t2i_random_seed = seed_inputs()
                t2i_batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=4, step=1, label="Batch size")
                t2i_generate, t2i_stop = run_buttons()
                gr.Examples(EXAMPLE_PROMPTS, inputs=[prompt], label="Example prompts")
            with gr.Column(scale=2):
                t2i_outputs = stream_outputs(
                    "text-to-image", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
                )

    with gr.Tab("Inpainting", id="inpainting", elem_id="inpainting-tab"):
        gr.Markdown(INPAINTING_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                inpaint_model = gr.Dropdown(
                    LATENT_MODELS, value=inpainting.DEFAULT_MODEL, label="Model", allow_custom_value=True
                )
                editor = gr.ImageEditor(
                    label="Image: paint over the part to repaint",
                    type="pil",
                    image_mode=None,  # uploads arrive as they are; pipelines.images converts them, with notices
                    sources=("upload", "clipboard"),
                    brush=gr.Brush(colors=[("#ffffff", 0.7)], color_mode="fixed"),
                    transforms=(),
                    format="png",
                    height=320,
                    elem_classes="pixelated",
                )
                gr.Examples(EXAMPLE_SCENES, inputs=[editor], label="Example images")
                inpaint_prompt = gr.Textbox("a green triangle", label="Prompt", max_lines=2)
                inpaint_negative = gr.Textbox("", label="Negative prompt", max_lines=2)
                strength = gr.Slider(0.05, 1, value=inpainting.DEFAULT_STRENGTH, step=0.05, label="Strength")
                zoom = gr.Checkbox(True, label="Zoom into the mask: repaint only the masked area, at full resolution")
                inpaint_guidance = gr.Slider(
                    1,
                    text_to_image.MAX_GUIDANCE_SCALE,
                    value=text_to_image.DEFAULT_GUIDANCE_SCALE,
                    step=0.5,
                    label="Guidance scale",
                )
                inpaint_scheduler = gr.Dropdown(
                    list(SCHEDULERS), value=text_to_image.DEFAULT_SCHEDULER, label="Scheduler"
                )
                inpaint_steps = gr.Slider(1, 1000, value=text_to_image.DEFAULT_STEPS, step=1, label="Steps")
                inpaint_seed, inpaint_random_seed = seed_inputs()
                inpaint_generate, inpaint_stop = run_buttons()
            with gr.Column(scale=2):
                inpaint_outputs = stream_outputs(
                    "inpainting", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
                )

    def wire(button, stop, handler, inputs: list, seed: gr.Number, outputs: list, api_name: str) -> None:
        """Generate streams into the tab's outputs; Stop ends this session's run; the slider replays it."""
        noisy, estimate, result, status, replay, frames = outputs
        button.click(
            handler,
            inputs=inputs,
            outputs=[noisy, estimate, result, status, seed, replay, frames],
            api_name=api_name,
            show_progress="minimal",
        )
        stop.click(request_stop, queue=False, api_visibility="private")
        replay.input(replay_step, inputs=[replay, frames], outputs=[noisy, estimate, status], api_visibility="private")

    wire(
        generate_button,
        stop_button,
        run_unconditional,
        [model, scheduler, steps, seed, random_seed, batch_size],
        seed,
        [noisy, estimate, result, status, replay, frames],
        "unconditional",
    )
    wire(
        t2i_generate,
        t2i_stop,
        run_text_to_image,
        [
            t2i_model,
            prompt,
            negative_prompt,
            guidance,
            t2i_scheduler,
            t2i_steps,
            t2i_seed,
            t2i_random_seed,
            t2i_batch_size,
        ],
        t2i_seed,
        t2i_outputs,
        "text_to_image",
    )
    wire(
        inpaint_generate,
        inpaint_stop,
        run_inpainting,
        [
            inpaint_model,
            editor,
            inpaint_prompt,
            inpaint_negative,
            strength,
            zoom,
            inpaint_guidance,
            inpaint_scheduler,
            inpaint_steps,
            inpaint_seed,
            inpaint_random_seed,
        ],
        inpaint_seed,
        inpaint_outputs,
        "inpaint",
    )


def launch(**options) -> None:
    """Serve the app; options go to `demo.launch` (tests pass a port and `prevent_thread_lock`)."""
    demo.launch(css=CSS, **options)


if __name__ == "__main__":
    launch()
