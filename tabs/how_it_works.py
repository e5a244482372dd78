"""The "How it works" tab: the forward process on any image, the noise schedules, what the network predicts,
and the score on a 2D toy.

`build()` lays the tab out and wires its events; app.py calls it inside the tab. The handlers below only
check and format (the model's call through the app's GPU function, `ui/gpu.py`; the rest on the server's CPU on
purpose: a few tensor ops each): the work is `pipelines/forward_process.py`, `pipelines/toy2d.py` and
`pipelines/keepsakes/plots.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
from PIL import Image

from pipelines import defaults
from pipelines.defaults.forward_process import NUM_TRAIN_TIMESTEPS, SCHEDULES
from pipelines.defaults.unconditional import DEFAULT_MODEL, MAX_SEED, PIPELINE_CLASSES
from pipelines.engine import catalogue, limits
from pipelines.lazy import lazy
from ui import gpu
from ui.components import EXAMPLES_DIR, UPLOAD_SETTINGS, checked, model_dropdown
from ui.stream import user_errors, whole_number

if TYPE_CHECKING:
    from pipelines.forward_process import PredictionView

forward_process = lazy("pipelines.forward_process")
plots = lazy("pipelines.keepsakes.plots")
sampling = lazy("pipelines.engine.sampling")
latent_space = lazy("pipelines.latent_space")
toy2d = lazy("pipelines.toy2d")
unet_levels = lazy("pipelines.unet_levels")

EXAMPLES = sorted(str(path) for path in EXAMPLES_DIR.glob("*.png"))  # the shapes scenes and the photos
TITLE, ID = "How it works", "how-it-works"
DEFAULT_IMAGE = str(EXAMPLES_DIR / "scene-1.png")  # what the embedded model was trained on
TOY_FRAMES = 30  # at most this many figures per reverse run (~0.2 s each): a few seconds, any step count
PREDICTING_ZERO = 1.0  # the error of ε̂ = 0: the mean of ε², ε ~ N(0, I)

FORWARD_TEXT = """
### 1. The forward process: adding noise
To learn to remove noise, a model is shown real images with noise added. DDPM (Ho et al. 2020) adds Gaussian
noise over T = 1000 small steps, but any step can be reached in one jump: **x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε**,
with ε ~ N(0, I). Here ε is drawn once from the seed, so the slider only changes the two weights; ᾱ_t, the
share of the signal kept, falls from almost 1 at t = 0 to almost 0 at t = 999, where x_t is pure noise.
"""
SCHEDULE_TEXT = """
### 2. Noise schedules
The schedule sets how fast ᾱ_t falls; log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) compares signal with noise (0: as much of
each). DDPM's linear schedule leaves under 1 % of the signal from t = 673 on, so its last steps teach little;
the cosine schedule (Nichol & Dhariwal 2021) removes the signal slowly at first, keeping half of it up to
t ≈ 500, and lets log SNR fall almost evenly. "model" is the schedule the chosen model was trained with.
"""
PREDICT_TEXT = """
### 3. What the network predicts
In training, the network sees x_t and t and predicts the noise ε that was added; its loss is ‖ε − ε̂‖², DDPM's
simple objective (Ho et al. 2020), the number below. From ε̂ follows the clean image it implies,
**x̂₀ = (x_t − √(1 − ᾱ_t) · ε̂) / √ᾱ_t**, which every sampling step uses. The embedded model predicts
v = √ᾱ_t · ε − √(1 − ᾱ_t) · x₀ instead (Salimans & Ho 2022), on its own cosine schedule: its output is converted.
"""
TOY_TEXT = """
### 4. The score, on points in the plane
Here the data are 2D points, so what the network computes can be drawn: at every x and t it predicts a noise
vector, and −ε̂ / √(1 − ᾱ_t) is the score s(x, t) = ∇ log p_t(x), the direction in which noisy data gets denser
(Song et al. 2021). At large t the arrows point to the middle of all the data; as t falls, to its nearest part.
"""
REVERSE_TEXT = """
Sampling follows the arrows back from pure noise. DDPM (Ho et al. 2020) adds fresh noise at every step, so the
particles jitter; DDIM (Song et al. 2020) with η = 0 adds none, each particle following a fixed path, which is
why it can take far fewer steps. Both start from the same noise.
"""
INSIDE_TEXT = """
### 5. Inside a latent diffusion model
**The latent space.** Text to image does not diffuse pixels: an autoencoder (VAE) squeezes the image into a small
*latent*, the UNet denoises that, and the decoder turns the result back into pixels (Rombach et al. 2022). Below, the
image above goes through the chosen model's VAE: its latent channels (−3 black … +3 white), the round trip D(E(x))
beside the input, and noise at the timestep t above added once to the pixels and once to the latents (then decoded):
the same formula, but noise in latent space changes what the decoder draws, not single pixels.

**What each U-Net level sees.** The UNet halves the resolution at each level down and doubles it on the way up; the
*skip connections* hand each up level what the down level of the same resolution saw, which keeps the layout sharp.
Here x_t is the image's latent noised to t, and one UNet call on it, conditioned on the prompt, is watched: the four
channels that vary most at each level.
"""


def notices_text(notices: list[str]) -> str:
    return "".join(f"\n\n*{notice}*" for notice in notices)


def forward_process_view(
    image: Image.Image | None, timestep: float, schedule: str, seed: float, model: str = DEFAULT_MODEL
) -> tuple[np.ndarray, float, str]:
    """x_t of the image at t (its own size), ᾱ_t, and a status line."""
    timestep, seed = whole_number(timestep, "Timestep"), whole_number(seed, "Seed")
    with user_errors():
        view = forward_process.forward(image, timestep, schedule, seed, model)
    alpha_prod = view.alpha_prod
    log_snr = sampling.log_signal_to_noise(np.array([alpha_prod]))[0]
    status = (
        f"t = {timestep} on the {schedule} schedule · ᾱ_t = {alpha_prod:.4f}: x_t = {alpha_prod**0.5:.3f} · x₀ + "
        f"{(1 - alpha_prod) ** 0.5:.3f} · ε · log SNR = {log_snr:.2f}"
    )
    return view.noisy_sample, alpha_prod, status + notices_text(view.notices)


def strip_view(image: Image.Image | None, schedule: str, seed: float, model: str) -> list[tuple[np.ndarray, str]]:
    seed = whole_number(seed, "Seed")
    with user_errors():
        return [
            (picture, f"t = {timestep}") for timestep, picture in forward_process.strip(image, schedule, seed, model)
        ]


def schedules_view(timestep: float, schedule: str, model: str) -> np.ndarray:
    """ᾱ_t and log SNR of every schedule; the model's only if it loads (the other views report why not)."""
    curves = {}
    for name in SCHEDULES:
        try:
            label = f"model: {model}" if name == "model" else name
            curves[label] = forward_process.alphas_cumprod(name, model)
        except ValueError:
            continue
    selected = f"model: {model}" if schedule == "model" else schedule
    return plots.schedule_figure(curves, whole_number(timestep, "Timestep"), selected)


def check_prediction(image: Image.Image | None, timestep: int, seed: int, model: str) -> None:
    """In the server, before the GPU call: what `forward_process.predict_noise` would refuse, but the model's shape."""
    with user_errors():
        forward_process.check_seed(seed)
        forward_process.check_timestep(timestep, len(forward_process.alphas_cumprod("model", model)))
        forward_process.prepare_image(image)


def predicted(image: Image.Image | None, timestep: int, seed: int, model: str) -> Iterator[PredictionView]:
    """The model's call, in the GPU worker on ZeroGPU (the app's GPU function streams: this yields its one view)."""
    with user_errors():
        yield forward_process.predict_noise(image, timestep, seed, model)


predict_on_gpu = gpu.register(
    "predict_noise", predicted, lambda image, timestep, seed, model: gpu.seconds(model, 1), check_prediction
)


def prediction_view(
    image: Image.Image | None, timestep: float, seed: float, model: str = DEFAULT_MODEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, str]:
    """x_t, ε̂, x̂0 at the image's size, the error, then ε and a status line."""
    timestep, seed = whole_number(timestep, "Timestep"), whole_number(seed, "Seed")
    *_, prediction = predict_on_gpu(image, timestep, seed, model)
    width, height = prediction.model_size
    predicts = {"epsilon": "the noise ε", "v_prediction": "v", "sample": "x₀"}[prediction.prediction_type]
    status = (
        f"{model} predicts {predicts}{'' if predicts == 'the noise ε' else ', converted to ε̂'}, at t = {timestep} of "
        f"its own schedule (ᾱ_t = {prediction.alpha_prod:.4f}), on {width}×{height} pixels. "
        f"Error ‖ε̂ − ε‖² = {prediction.error:.4f} (predicting no noise at all: about {PREDICTING_ZERO:g})."
    )
    if prediction.error > PREDICTING_ZERO:
        status += " At small t the noise is a tiny part of x_t: hard to tell apart, and it barely changes x̂₀."
    return (
        prediction.noisy_sample,
        prediction.predicted_noise,
        prediction.predicted_original,
        prediction.error,
        prediction.noise,
        status + notices_text(prediction.notices),
    )


def model_call(task: str, work: Callable[..., object], pipeline_classes: tuple[str, ...]) -> Callable[..., object]:
    """`work(model, *arguments)`, one call of a model, as task `task` of the app's GPU function (on ZeroGPU the
    server holds no weights it can run): the model checked against `pipeline_classes` in the server first, one
    UNet call's GPU seconds asked for; returns what `work` returns."""

    def run(model: str, *arguments: object) -> Iterator[object]:
        with user_errors():
            yield work(model, *arguments)

    def check(model: str, *arguments: object) -> None:
        with user_errors():
            catalogue.entry(model, pipeline_classes)

    start = gpu.register(task, run, lambda model, *arguments: gpu.seconds(model, 1), check)

    def call(model: str, *arguments: object) -> object:
        *_, result = start(model, *arguments)
        return result

    return call


text_models = defaults.text_to_image.PIPELINE_CLASSES
encode_on_gpu = model_call("latent_space", lambda *arguments: latent_space.encode(*arguments), text_models)
time_on_gpu = model_call("step_timings", lambda *arguments: latent_space.step_timings(*arguments), text_models)
levels_on_gpu = model_call("unet_levels", lambda *arguments: unet_levels.levels(*arguments), text_models)


def latent_space_view(
    image: Image.Image | None, timestep: float, seed: float, model: str = defaults.text_to_image.DEFAULT_MODEL
) -> tuple[list[tuple[np.ndarray, str]], np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """The latent channels, the input at the model's size, its round trip, noise in pixel and latent space, status."""
    timestep, seed = whole_number(timestep, "Timestep"), whole_number(seed, "Seed")
    view = encode_on_gpu(model, image, timestep, seed)
    channels = [(channel, f"channel {number}") for number, channel in enumerate(view.channels)]
    height, width = view.image.shape[:2]
    latent_values = math.prod(view.latent_shape)
    status = (
        f"{width}×{height}×3 = {view.pixel_values} numbers → a latent of {'×'.join(map(str, view.latent_shape))} = "
        f"{latent_values} numbers: {view.pixel_values / latent_values:.0f}× fewer. Round trip PSNR "
        f"{view.psnr:.1f} dB. Noise at t = {timestep} (ᾱ_t = {view.alpha_prod:.3f}), same seed, in either space."
    )
    pictures = (view.image, view.round_trip, view.noised_pixels, view.noised_latents)
    return channels, *(latent_space.enlarged(picture, 256) for picture in pictures), status + notices_text(view.notices)


def timing_view(model: str = defaults.text_to_image.DEFAULT_MODEL) -> str:
    """One UNet step on latents against one on pixels, timed now."""
    timing = time_on_gpu(model)
    return (
        f"One UNet step of {model} on a latent {tuple(timing.latent_shape[1:])}: "
        f"{timing.latent_seconds * 1000:.1f} ms; "
        f"one of the pixel model {latent_space.PIXEL_MODEL} on an image {tuple(timing.pixel_shape[1:])}: "
        f"{timing.pixel_seconds * 1000:.1f} ms (medians of {latent_space.TIMED_CALLS} calls, timed just now on this "
        f"machine, shared with every other user)."
    )


def unet_levels_view(
    image: Image.Image | None,
    prompt: str,
    timestep: float,
    seed: float,
    model: str = defaults.text_to_image.DEFAULT_MODEL,
) -> tuple[np.ndarray, str]:
    """The U-Net diagram with each level's channels, and a status line."""
    timestep, seed = whole_number(timestep, "Timestep"), whole_number(seed, "Seed")
    prompt, notices = limits.cut_prompt(prompt)
    view = levels_on_gpu(model, image, prompt, timestep, seed)
    status = f"One call of {model}'s UNet on x_t at t = {timestep}, prompt “{limits.shown(prompt)}”."
    return view.diagram, status + notices_text(notices + view.notices)


def toy_view(data_set: str, timestep: float) -> np.ndarray:
    with user_errors():
        return plots.toy_figure(toy2d.noised_view(data_set, whole_number(timestep, "Timestep")), data_set)


def run_toy_reverse(data_set: str, steps: float, seed: float) -> Iterator[tuple[np.ndarray, str]]:
    """DDPM and DDIM side by side, streamed: at most TOY_FRAMES figures spread over the steps, the last one's
    included."""
    steps, seed = whole_number(steps, "Steps"), whole_number(seed, "Seed")
    with user_errors(), closing(toy2d.reverse_steps(data_set, steps, seed)) as run:
        data = toy2d.sample_data(data_set, defaults.toy.PARTICLES, 0)
        every = math.ceil(steps / TOY_FRAMES)
        for step in run:
            if step.is_last:
                break
            if step.step % every == 0:
                yield plots.reverse_figure(step, data), f"Step {step.step} / {steps} · t = {step.timestep}"
    done = (
        f"Done: {steps} steps of DDPM and of DDIM from the same {defaults.toy.PARTICLES} points of noise (seed {seed}) "
        f"in {step.elapsed:.2f} s."
    )
    yield plots.reverse_figure(step, data), done


def picture_row(prefix: str, **labels: str) -> list[gr.Image]:
    """A row of small pictures, one per label, each with the element id `prefix-name` (underscores as dashes)."""
    with gr.Row():
        return [
            gr.Image(
                label=label,
                format="png",
                height=200,
                elem_classes="pixelated",
                elem_id=f"{prefix}-{name.replace('_', '-')}",
            )
            for name, label in labels.items()
        ]


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's components and events; call inside its `gr.Tab`. Nothing here is restored from a PNG."""
    gr.Markdown(FORWARD_TEXT)
    with gr.Row():
        with gr.Column(scale=1):
            image = checked(
                gr.Image(DEFAULT_IMAGE, label="x₀: the image", height=256, elem_classes="pixelated", **UPLOAD_SETTINGS)
            )
            gr.Examples(EXAMPLES, inputs=[image], label="Example images")
            schedule = gr.Radio(list(SCHEDULES), value="linear", label="Schedule")
            seed = checked(gr.Number(0, label="Seed of the noise ε", precision=0, minimum=0, maximum=MAX_SEED))
            model = model_dropdown(PIPELINE_CLASSES, DEFAULT_MODEL)
        with gr.Column(scale=2):
            timestep = checked(gr.Slider(0, NUM_TRAIN_TIMESTEPS - 1, value=250, step=1, label="Timestep t"))
            with gr.Row():
                noisy = gr.Image(
                    label="x_t", format="png", height=256, elem_classes="pixelated", elem_id="forward-noisy"
                )
                alpha_prod = gr.Number(label="ᾱ_t: the share of the signal kept", elem_id="forward-alpha-prod")
            forward_status = gr.Markdown(elem_id="forward-status")
    strip = gr.Gallery(
        label="x_t at t = 0, 50, 100, 250, 500, 750, 999", columns=7, height=200, elem_classes="pixelated"
    )
    gr.Markdown(SCHEDULE_TEXT)
    schedule_plot = gr.Image(label="Noise schedules", format="png", show_label=False, elem_id="schedule-plot")

    gr.Markdown(PREDICT_TEXT)
    predict_button = gr.Button("Predict the noise at t", variant="primary")
    prediction_pictures = picture_row(
        "prediction",
        noisy="x_t",
        noise="ε: the noise added (−3 black … +3 white)",
        predicted_noise="ε̂: the noise predicted",
        predicted_original="x̂₀ from ε̂",
    )
    error = gr.Number(label="‖ε̂ − ε‖²: mean over pixels and channels", elem_id="prediction-error")
    prediction_status = gr.Markdown("Press **Predict the noise at t**.", elem_id="prediction-status")

    gr.Markdown(TOY_TEXT)
    with gr.Row():
        with gr.Column(scale=1):
            data_set = gr.Radio(
                list(defaults.toy.DATA_SETS), value="two moons", label=f"Data set (word: {defaults.toy.WORD})"
            )
            toy_timestep = checked(
                gr.Slider(0, NUM_TRAIN_TIMESTEPS - 1, value=100, step=1, label="Timestep t of the toy")
            )
            gr.Markdown(REVERSE_TEXT)
            toy_steps = checked(
                gr.Slider(1, NUM_TRAIN_TIMESTEPS, value=100, step=1, label="Steps of the reverse process")
            )
            toy_seed = checked(gr.Number(0, label="Seed of the particles", precision=0, minimum=0, maximum=MAX_SEED))
            toy_button = gr.Button("Run DDPM and DDIM", variant="primary")
        with gr.Column(scale=2):
            toy_plot = gr.Image(label="Data, x_t and the score", format="png", show_label=False, elem_id="toy-plot")
    reverse_plot = gr.Image(label="The reverse process", format="png", show_label=False, elem_id="toy-reverse")
    toy_status = gr.Markdown("Press **Run DDPM and DDIM**.", elem_id="toy-status")

    gr.Markdown(INSIDE_TEXT)
    with gr.Row():
        latent_model = model_dropdown(defaults.text_to_image.PIPELINE_CLASSES, defaults.text_to_image.DEFAULT_MODEL)
        latent_model.label = "Latent diffusion model"
        levels_prompt = gr.Textbox("a red circle on the left", label="Prompt of the U-Net call", max_lines=1)
    latent_channels = gr.Gallery(
        label="The latent's channels",
        format="png",
        columns=4,
        height=180,
        object_fit="contain",
        elem_classes="pixelated",
    )
    latent_pictures = picture_row(
        "latent",
        input="x: the input at the model's size",
        round_trip="D(E(x)): encoded and decoded",
        noised_pixels="noise at t added to the pixels",
        noised_latents="noise at t added to the latents, decoded",
    )
    latent_status = gr.Markdown(elem_id="latent-status")
    with gr.Row():
        timing_button = gr.Button("Time one UNet step: latents vs pixels", size="sm")
        levels_button = gr.Button("Look inside the U-Net at t", variant="primary", elem_id="unet-levels-button")
    timing_status = gr.Markdown(elem_id="latent-timing")
    levels_diagram = gr.Image(label="The U-Net's levels", format="png", show_label=True, elem_id="unet-levels")
    levels_status = gr.Markdown(elem_id="unet-levels-status")

    # No triggers: on page load and whenever an input changes; a dragged slider runs only its latest value.
    live = {"trigger_mode": "always_last", "show_progress": "hidden"}
    noisy_noise, noise, predicted_noise, predicted_original = prediction_pictures
    gr.on(
        None,
        forward_process_view,
        inputs=[image, timestep, schedule, seed, model],
        outputs=[noisy, alpha_prod, forward_status],
        api_name="forward_process",
        **live,
    )
    gr.on(None, strip_view, inputs=[image, schedule, seed, model], outputs=strip, api_visibility="private", **live)
    gr.on(
        None,
        schedules_view,
        inputs=[timestep, schedule, model],
        outputs=schedule_plot,
        api_visibility="private",
        **live,
    )
    predict_button.click(
        prediction_view,
        inputs=[image, timestep, seed, model],
        outputs=[noisy_noise, predicted_noise, predicted_original, error, noise, prediction_status],
        api_name="predict_noise",
    )
    gr.on(
        None,
        latent_space_view,
        inputs=[image, timestep, seed, latent_model],
        outputs=[latent_channels, *latent_pictures, latent_status],
        api_name="latent_space",
        **live,
    )
    timing_button.click(timing_view, inputs=latent_model, outputs=timing_status, api_name="step_timings")
    levels_button.click(
        unet_levels_view,
        inputs=[image, levels_prompt, timestep, seed, latent_model],
        outputs=[levels_diagram, levels_status],
        api_name="unet_levels",
    )
    gr.on(None, toy_view, inputs=[data_set, toy_timestep], outputs=toy_plot, api_visibility="private", **live)
    toy_button.click(
        run_toy_reverse,
        inputs=[data_set, toy_steps, toy_seed],
        outputs=[reverse_plot, toy_status],
        api_visibility="private",
    )
    return {}
