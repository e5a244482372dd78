"""The "Train" tab: draw a distribution of points (or pick a preset), train a small diffusion model on it live, and
watch the loss fall, the score field form and samples from pure noise land on the drawing.

`build()` lays the tab out and wires its events; app.py calls it inside the tab. The handler only checks and
formats: the training is `pipelines/toy_training.py` (every student of the class trained together), the pictures
`pipelines/keepsakes/plots.py`, the files `pipelines/keepsakes/files.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

from pipelines import defaults, toy_points
from pipelines.engine import limits
from pipelines.keepsakes.files import training_keepsakes
from pipelines.lazy import lazy
from ui import runs
from ui.components import checked
from ui.stream import MAX_SEED, stopper, tab_handler, user_errors, whole_number

if TYPE_CHECKING:
    from pipelines.toy_training import TrainingSettings, TrainingUpdate

plots = lazy("pipelines.keepsakes.plots")
toy_training = lazy("pipelines.toy_training")

TITLE, ID = "Train", "train"
TASK = "train_toy"
DRAWING, TYPED = "my drawing", "my points"
SOURCES = (DRAWING, *defaults.toy.DATA_SETS, TYPED)
CANVAS_SIZE = 256  # pixels of the drawing canvas, a square: [-1.5, 1.5]²
UPDATE_SECONDS = 0.25  # a student sees an update at most this often (less often when many train at once)
PICTURES_PER_SECOND = 10  # loss curves drawn and sent a second, for all students together (at most 4 each)
EXPLANATION = """
## Train a diffusion model yourself
Draw a shape (a spiral, your initials, a smile) or pick a preset, and press **Train**. A small network learns to
predict the noise added to your points at every t (DDPM's loss ‖ε − ε̂‖², Ho et al. 2020), and so learns the
**score**, the direction in which noisy points get closer to your drawing. Watch three things: the **loss** fall,
the **score field** form (red arrows at the chosen t), and **samples** drawn from pure noise by DDPM and DDIM with
the current weights land on your drawing. The **distance** is the sliced Wasserstein distance: how far the samples'
shadow on a line must move to cover the data's, averaged over directions (0: spread alike). The whole class trains
at once: everyone's network takes its step in one shared pass.
"""


def drawn_mask(drawing: object) -> np.ndarray:
    """The canvas's drawn pixels, (height, width) bool: the union of its layers' strokes (any colour)."""
    if not isinstance(drawing, dict):
        raise ValueError(f"Draw on the canvas first, or pick a preset ({', '.join(defaults.toy.DATA_SETS)}).")
    layers = [layer for layer in drawing.get("layers") or [] if layer is not None]
    if not layers and drawing.get("composite") is None:
        raise ValueError("Draw on the canvas first: it is empty.")
    masks = []
    for layer in layers or [drawing["composite"]]:
        pixels = np.asarray(layer)
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            masks.append(pixels[..., 3] > 0)
        else:  # no transparency: dark strokes on a light canvas
            masks.append(np.asarray(pixels, dtype=np.float32).reshape(pixels.shape[:2] + (-1,)).mean(-1) < 128)
    if any(mask.shape != masks[0].shape for mask in masks):
        raise ValueError("The drawing's layers differ in size; clear the canvas and draw again.")
    return np.logical_or.reduce(masks)


def training_points(data: str, drawing: object, points: str, seed: int) -> np.ndarray:
    if data == DRAWING:
        return toy_points.drawing_points(drawn_mask(drawing), seed)
    if data == TYPED:
        return toy_points.parse_points(points or "")
    if data in defaults.toy.DATA_SETS:
        return toy_points.preset_points(data, seed)
    raise ValueError(f"Unknown data '{str(data)[:40]}'; choose one of: {', '.join(SOURCES)}.")


def status_text(update: TrainingUpdate, settings: TrainingSettings, stopped: str = "") -> str:
    snapshot, untrained = update.snapshot, update.untrained
    loss = f" · loss {update.losses[-50:].mean():.3f}" if len(update.losses) else ""
    head = stopped or ("Done" if update.is_last else "Training")
    return (
        f"{head}: step {update.step} / {update.total_steps} · {update.elapsed:.1f} s{loss} · width "
        f"{settings.width}, {settings.schedule} schedule, seed {settings.seed}. Distance of the samples to the data "
        f"at step {snapshot.step}: DDPM {snapshot.ddpm_distance:.3f}, DDIM {snapshot.ddim_distance:.3f} "
        f"(untrained: {untrained.ddpm_distance:.3f}, {untrained.ddim_distance:.3f})."
    )


def snapshot_picture(update: TrainingUpdate, background: np.ndarray) -> np.ndarray:
    """The latest snapshot over the training's `plots.training_background`."""
    snapshot = update.snapshot
    caption = (
        f"step {snapshot.step} / {update.total_steps} · distance to the data: DDPM {snapshot.ddpm_distance:.3f}, "
        f"DDIM {snapshot.ddim_distance:.3f}"
    )
    return plots.training_picture(background, snapshot.grid, snapshot.scores, snapshot.ddpm, snapshot.ddim, caption)


def views(
    update: TrainingUpdate,
    settings: TrainingSettings,
    picture: np.ndarray | None,
    stopped: str = "",
    files: tuple = (),
    loss: bool = True,
) -> tuple:
    """The tab's outputs for one update: the loss curve (if `loss`), the field and samples (if a `picture`), the
    status, the two distances, and the files (skipped until the end)."""
    return (
        plots.loss_picture(update.losses, settings.steps) if loss else gr.skip(),
        gr.skip() if picture is None else picture,
        status_text(update, settings, stopped),
        round(update.snapshot.ddpm_distance, 4),
        round(update.untrained.ddpm_distance, 4),
        *(files or (gr.skip(), gr.skip())),
    )


@tab_handler(TASK, gpu_work=False)
def run_train_toy(
    slot: int,
    data: str,
    drawing: object,
    points: str,
    steps: float,
    schedule: str,
    width: float,
    timestep: float,
    seed: float,
) -> Iterator[tuple]:
    """Stream a training, the run of this session's Train tab (Stop ends it, Train again replaces it): the loss
    curve, the field and samples, a status line, the samples' distance to the data now and untrained; at the end (or
    at Stop) also the weights (safetensors) and the animation (WebP)."""
    settings = toy_training.TrainingSettings(
        steps=whole_number(steps, "Training steps"),
        schedule=schedule,
        width=whole_number(width, "Network width"),
        timestep=whole_number(timestep, "Timestep t of the field"),
        seed=whole_number(seed, "Seed"),
    )
    with user_errors():
        settings.check()
        cloud = training_points(data, drawing, points, settings.seed)
    pictures: list[np.ndarray] = []  # the field and the samples at each snapshot: the animation
    background = plots.training_background(cloud, settings.timestep)
    # the first update shows the untrained network's field and samples at once; its loss curve (one step's) comes with
    # the next picture due: in a class of 30 joining at once, each first update drawn and encoded one picture lighter
    shown, stopped, drawn_step = {"status": 0.0, "loss": time.monotonic()}, "", -1
    with user_errors():
        for update in toy_training.train_steps(cloud, settings):
            new_snapshot = update.snapshot.step != drawn_step
            if new_snapshot:  # drawn for the animation, shown at once
                pictures.append(snapshot_picture(update, background))
                drawn_step = update.snapshot.step
            if runs.stop_requested(slot):
                stopped = "Stopped"
            elif update.elapsed > limits.RUN_SECONDS:
                stopped = f"Stopped at the time limit of {limits.RUN_SECONDS:g} s"
            if update.is_last or stopped:
                break
            # every picture sent is encoded and written by the server: the status (text) goes more often than the
            # loss curve, the field only when it changed; all less often the more students train at once
            now, going = time.monotonic(), runs.going()
            status_due = now - shown["status"] >= max(UPDATE_SECONDS, going / limits.STREAMED_UPDATES_PER_SECOND)
            loss_due = now - shown["loss"] >= max(UPDATE_SECONDS, going / PICTURES_PER_SECOND)
            if new_snapshot or loss_due or status_due:
                shown["status"] = now
                if loss_due:
                    shown["loss"] = now
                yield views(update, settings, pictures[-1] if new_snapshot else None, loss=loss_due)
    if stopped:
        gr.Warning(f"{stopped} after step {update.step}; the files hold the weights of step {update.snapshot.step}.")
    names = {"data": data, "steps": settings.steps, "schedule": settings.schedule, "width": settings.width}
    weights, animation = training_keepsakes(pictures, update.snapshot.weights, {**names, "seed": settings.seed})
    yield views(update, settings, pictures[-1], stopped, (str(weights), str(animation)))


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's components and events; call inside its `gr.Tab`. Nothing here is restored from a PNG."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=1):
            data = checked(gr.Radio(list(SOURCES), value=DRAWING, label="Data"))
            drawing = gr.Sketchpad(
                label="My drawing: pick the brush (left), draw on the square [-1.5, 1.5]²",
                type="numpy",
                image_mode="RGBA",
                canvas_size=(CANVAS_SIZE, CANVAS_SIZE),
                brush=gr.Brush(colors=["#1f1f1f"], color_mode="fixed", default_size=6),
                layers=False,
                transforms=(),
                height=CANVAS_SIZE + 120,
                elem_id="train-drawing",
            )
            points = gr.Textbox(
                label=f"My points: one 'x, y' per line, within [-{toy_points.CANVAS_LIMIT:g}, "
                f"{toy_points.CANVAS_LIMIT:g}]² ({toy_points.MIN_POINTS} to {toy_points.MAX_POINTS})",
                lines=3,
                max_lines=8,
            )
            low, high = defaults.toy.STEPS_RANGE
            steps = checked(gr.Slider(low, high, value=defaults.toy.DEFAULT_STEPS, step=50, label="Training steps"))
            schedule = checked(gr.Radio(list(defaults.toy.TOY_SCHEDULES), value="linear", label="Noise schedule"))
            width = checked(
                gr.Radio(list(defaults.toy.WIDTHS), value=defaults.toy.DEFAULT_WIDTH, label="Network width")
            )
            timestep = checked(gr.Slider(0, 999, value=100, step=1, label="Timestep t of the field"))
            seed = checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
            with gr.Row():
                train = gr.Button("Train", variant="primary")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=2):
            field = gr.Image(label="Score field and samples", format="png", show_label=False, elem_id="train-field")
            loss = gr.Image(label="Loss", format="png", show_label=False, elem_id="train-loss")
            status = gr.Markdown("Draw, then press **Train**.", elem_id="train-status")
            with gr.Row():
                distance = gr.Number(label="Distance of the DDPM samples to the data", elem_id="train-distance")
                untrained = gr.Number(label="… for the untrained network", elem_id="train-untrained")
            with gr.Row():
                weights = gr.File(label="Weights (safetensors)", elem_id="train-weights")
                animation = gr.File(label="Animation of the training (WebP)", elem_id="train-animation")
    train.click(
        run_train_toy,
        inputs=[data, drawing, points, steps, schedule, width, timestep, seed],
        outputs=[loss, field, status, distance, untrained, weights, animation],
        api_name="train_toy",
        show_progress="minimal",
        trigger_mode="always_last",
        concurrency_limit=limits.CONCURRENT_RUNS,
    )
    stop.click(stopper(run_train_toy.task), queue=False, api_visibility="private")
    return {}
