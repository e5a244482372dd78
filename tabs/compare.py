"""The "Compare" tab: a guidance sweep, a sampler comparison and a strength sweep, each streamed as a growing grid.

`build()` lays the tab out and wires its events; app.py calls it inside the tab. The handlers only check,
stream and format: the grids are `pipelines/grids.py`. Each panel's run is a run of its own (session, panel)
(`stream.tab_handler`: Stop ends it, Generate again replaces it). A finished grid is served as a PNG carrying
its settings (`pipelines/keepsakes/png_info.py`: the panel's inputs, so each cell's, and each image's seed), which the
PNG info tab puts back into this tab.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing

import gradio as gr
import numpy as np
from PIL import Image

from pipelines import defaults, grids
from pipelines.engine import catalogue, limits
from pipelines.engine.frames import Throttle
from pipelines.grids import GridStep
from pipelines.keepsakes.files import run_folder
from pipelines.keepsakes.png_info import parameters_text, png_with_parameters
from pipelines.lazy import lazy
from ui import runs
from ui.components import EXAMPLES_DIR, UPLOAD_SETTINGS, checked, model_dropdown, run_buttons, sampler_inputs
from ui.stream import MAX_SEED, stopper, tab_handler, tell, whole_number

image_to_image = lazy("pipelines.image_to_image")
text_to_image = lazy("pipelines.text_to_image")

TITLE, ID = "Compare", "compare"
GUIDANCE_TEXT = """
### Guidance sweep
One prompt, one seed, several **classifier-free guidance** scales (Ho & Salimans 2022). At each step the model
predicts the noise twice, with and without the prompt, and the step follows
ε̂ = ε̂(no prompt) + s · (ε̂(prompt) − ε̂(no prompt)): s = 1 is the model's own conditional prediction (no guidance),
larger s pushes away from what it would draw without the prompt. Each cell is exactly the Text to image tab's run
with that scale and seed.
"""
STRENGTH_TEXT = """
### Strength sweep
One input (upload a drawing or a picture, or pick an example) and one seed through image to image at several
**strengths** (SDEdit): how far into the forward process the input goes before the model finishes it. Low strengths
keep the input, high ones only its layout, 1 forgets it. Each cell is exactly the Image to image tab's run with that
strength and seed.
"""
SAMPLER_TEXT = f"""
### Sampler and steps comparison
The same seed, so the same starting noise, through several samplers and step counts: `name steps`, separated by
commas (at most {grids.MAX_CELLS} cells and {grids.MAX_TOTAL_STEPS} steps in all). DDPM needs about as many steps
as the model was trained with; DDIM and DPM-Solver++ follow the same path deterministically in 10-50;
the ancestral and SDE samplers add fresh noise at every step, so their pictures differ from the others'.
Text to image runs at guidance {defaults.text_to_image.DEFAULT_GUIDANCE_SCALE:g}.
"""


def grid_png(task: str, settings: Mapping[str, object], step: GridStep) -> str | np.ndarray:
    """The finished grid as a PNG file whose `parameters` text holds `settings` (the panel's inputs), the size
    of its images and each image's seed; the grid itself, with a warning, if the file cannot be written."""
    grid = grids.grid_image(step.labels, step.images, step.seconds)
    height, width = step.images[0].shape[:2]
    seeds = [settings["seed"]] * len(step.images)  # every cell starts from the same noise
    text = parameters_text({"task": task, **settings, "size": (width, height), "seeds": seeds})
    try:
        return str(png_with_parameters(grid, text, run_folder() / f"{task}-seed{settings['seed']}.png"))
    except OSError as error:
        gr.Warning(f"The grid's PNG could not be written ({error}); it is shown without its settings.")
        return grid


def stream_grid(
    task: str,
    start: Callable[[], Iterator[GridStep]],
    slot: int,
    done: Callable[[GridStep], str],
    settings: Mapping[str, object],
) -> Iterator[tuple[np.ndarray | str | dict, str]]:
    """The grid as it grows and a status line: each finished cell, and the running cell's x̂0 (when drawing it
    is affordable, `Throttle`) about ten times a second; Stop and the time limit end it between steps. The
    finished grid comes as a PNG carrying `settings` (`grid_png`)."""
    throttle = Throttle(task)
    elapsed, shown_cell = 0.0, None
    try:
        with closing(start()) as run:  # closing it ends the running cell's sampling loop
            for step in run:
                cell, frame = step.cell, step.frame
                elapsed = sum(step.seconds) + (0.0 if frame.is_last else frame.elapsed)
                if step.is_last:
                    break
                stopped = runs.stop_requested(slot)
                if stopped or elapsed > limits.RUN_SECONDS:
                    reason = "Stopped" if stopped else f"Stopped at the time limit of {limits.RUN_SECONDS:g} s"
                    gr.Warning(f"{reason} in cell {cell + 1} of {len(step.labels)}.")
                    yield gr.skip(), f"{reason} in cell {cell + 1} of {len(step.labels)}: the grid shows those done."
                    return
                if not throttle.ready(frame) and cell == shown_cell:  # a new cell is always shown as it starts
                    continue
                shown_cell = cell
                status = (
                    f"Cell {cell + 1} of {len(step.labels)} ({step.labels[cell].replace(chr(10), ', ')}): "
                    f"step {frame.step} / {frame.total_steps} · {elapsed:.1f} s"
                )
                if frame.is_last or not throttle.affordable():
                    running = None
                else:
                    with throttle.timed():  # decoding a latent x̂0 is the costly part
                        running = (frame.predicted_original[0], f"step {frame.step} / {frame.total_steps}")
                if step.images or running is not None:
                    yield grids.grid_image(step.labels, step.images, step.seconds, running), status
                else:
                    yield gr.skip(), status
    except ValueError as error:  # settings, input or model the pipelines refused: tell the user why
        raise gr.Error(str(error)) from error
    except Exception as error:  # anything else (out of memory, a broken model): say what, keep serving
        raise gr.Error(f"Generation failed: {type(error).__name__}: {str(error)[:300]}") from error
    yield grid_png(task, settings, step), done(step)


def checked_prompt(prompt: object) -> str:
    prompt, notices = limits.cut_prompt(prompt)
    tell(notices)
    return prompt


def total(step: GridStep) -> str:
    return f"{len(step.images)} cells in {sum(step.seconds):.2f} s"


# GPU seconds: a cell of `steps` per scale
@tab_handler(
    "guidance_sweep",
    defaults.text_to_image.PIPELINE_CLASSES,
    batch_size=lambda named: len(grids.parse_scales(named["scales"])),
)
def run_guidance_sweep(
    slot: int, model: str, prompt: str, seed: float, scales: str, scheduler: str, steps: float
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), whole_number(seed, "Seed")
    prompt = checked_prompt(prompt)

    def start() -> Iterator[GridStep]:
        tell(text_to_image.prompt_notices(model, prompt))
        return grids.guidance_sweep_steps(model, prompt, seed, scales, scheduler, steps)

    yield from stream_grid(
        "guidance_sweep",
        start,
        slot,
        lambda step: f"Done: {total(step)}, “{limits.shown(prompt)}”, {steps} steps of {scheduler}, seed {seed}.",
        {"model": model, "prompt": prompt, "seed": seed, "scales": scales, "scheduler": scheduler, "steps": steps},
    )


@tab_handler(
    "strength_sweep",
    defaults.image_to_image.PIPELINE_CLASSES,
    batch_size=lambda named: len(grids.parse_strengths(named["strengths"])),  # GPU seconds: a cell per strength
)
def run_strength_sweep(
    slot: int,
    model: str,
    image: Image.Image | None,
    prompt: str,
    seed: float,
    strengths: str,
    scheduler: str,
    steps: float,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), whole_number(seed, "Seed")
    prompt = checked_prompt(prompt)

    def start() -> Iterator[GridStep]:
        prepared, notices = image_to_image.prepare(image, model)
        tell(notices, gr.Info)
        tell(image_to_image.prompt_notices(model, prompt, ""))
        return grids.strength_sweep_steps(model, prepared, prompt, seed, strengths, scheduler, steps)

    yield from stream_grid(
        "strength_sweep",
        start,
        slot,
        lambda step: f"Done: {total(step)}, strengths {strengths}, {steps} steps of {scheduler}, seed {seed}.",
        {
            "model": model,
            "prompt": prompt,
            "seed": seed,
            "strengths": strengths,
            "scheduler": scheduler,
            "steps": steps,
        },
    )


def grid_steps(named: dict) -> int:
    """The steps of all the cells of a sampler comparison: its GPU seconds (one image each)."""
    return sum(steps for _, steps in grids.parse_samplers(named["samplers"]))


# the model is checked against its task by the run
@tab_handler(
    "sampler_comparison",
    defaults.unconditional.PIPELINE_CLASSES + defaults.text_to_image.PIPELINE_CLASSES,
    steps=grid_steps,
)
def run_sampler_comparison(
    slot: int, task: str, model: str, prompt: str, seed: float, samplers: str
) -> Iterator[tuple]:
    seed = whole_number(seed, "Seed")
    prompt = checked_prompt(prompt)

    def start() -> Iterator[GridStep]:
        if task == "Text to image":
            tell(text_to_image.prompt_notices(model, prompt))
        return grids.sampler_comparison_steps(task, model, prompt, seed, samplers)

    settings = {"grid_task": task, "model": model, "seed": seed, "samplers": samplers}
    if task == "Text to image":  # every cell at the tab's default guidance
        settings.update(prompt=prompt, guidance_scale=defaults.text_to_image.DEFAULT_GUIDANCE_SCALE)
    yield from stream_grid(
        "sampler_comparison",
        start,
        slot,
        lambda step: f"Done: {total(step)}, {task.lower()}, seed {seed}.",
        settings,
    )


def task_shown(task: str) -> tuple[dict, dict]:
    """The sampler comparison's model choices and prompt for the task shown (picked, or restored from a PNG
    with its model and samplers: those stay)."""
    module = grids.TASKS.get(task, text_to_image)
    return gr.update(choices=catalogue.choices(module.PIPELINE_CLASSES)), gr.update(visible=module is text_to_image)


def task_picked(task: str) -> tuple[dict, dict]:
    """The models and the default model and samplers of the task the user picked."""
    module = grids.TASKS.get(task, text_to_image)
    samplers = grids.DEFAULT_SAMPLERS.get(task, grids.DEFAULT_SAMPLERS["Text to image"])
    model = gr.update(choices=catalogue.choices(module.PIPELINE_CLASSES), value=module.DEFAULT_MODEL)
    return model, gr.update(value=samplers)


def build() -> dict[str, dict[str, gr.components.Component]]:
    """The tab's two panels and their events; call inside `with gr.Tab(...)`. Returns each panel's inputs by
    its handler's parameter names (what PNG info restores), under the panel's task."""
    tab_inputs = {}

    def panel(task: str, inputs: list, handler: Callable, api_name: str) -> None:
        tab_inputs[handler.task] = dict(zip(inspect.signature(handler).parameters, inputs))
        generate, stop = run_buttons()
        status = gr.Markdown("Press **Generate**.", elem_id=f"{task}-status")
        grid = gr.Image(label="Grid", format="png", elem_classes="pixelated", elem_id=f"{task}-grid")
        generate.click(
            handler,
            inputs=inputs,
            outputs=[grid, status],
            api_name=api_name,
            show_progress="minimal",
            trigger_mode="always_last",
            concurrency_limit=limits.CONCURRENT_RUNS,
        )
        stop.click(stopper(handler.task), queue=False, api_visibility="private")

    def seed_input() -> gr.Number:
        return checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))

    with gr.Row():
        with gr.Column(elem_id="guidance-sweep-panel"):
            gr.Markdown(GUIDANCE_TEXT)
            model = model_dropdown(defaults.text_to_image.PIPELINE_CLASSES, defaults.text_to_image.DEFAULT_MODEL)
            prompt = gr.Textbox("a large red circle on the left", label="Prompt", max_lines=2)
            seed = seed_input()
            scales = gr.Textbox(grids.DEFAULT_SCALES, label="Guidance scales", max_lines=1)
            scheduler, steps = sampler_inputs(
                defaults.text_to_image.DEFAULT_SCHEDULER, defaults.text_to_image.DEFAULT_STEPS
            )
            panel(
                "guidance-sweep", [model, prompt, seed, scales, scheduler, steps], run_guidance_sweep, "guidance_sweep"
            )
        with gr.Column(elem_id="sampler-comparison-panel"):
            gr.Markdown(SAMPLER_TEXT)
            task = gr.Radio(list(grids.TASKS), value="Unconditional", label="Task")
            task.preprocess = lambda payload: payload  # refused by the pipelines with the tasks allowed
            sampler_model = model_dropdown(
                defaults.unconditional.PIPELINE_CLASSES, defaults.unconditional.DEFAULT_MODEL
            )
            sampler_prompt = gr.Textbox(
                "a large red circle on the left", label="Prompt (text to image)", max_lines=2, visible=False
            )
            sampler_seed = seed_input()
            samplers = gr.Textbox(grids.DEFAULT_SAMPLERS["Unconditional"], label="Samplers and steps", max_lines=2)
            panel(
                "sampler-comparison",
                [task, sampler_model, sampler_prompt, sampler_seed, samplers],
                run_sampler_comparison,
                "sampler_comparison",
            )
    with gr.Row(), gr.Column(elem_id="strength-sweep-panel"):
        gr.Markdown(STRENGTH_TEXT)
        with gr.Row():
            with gr.Column():
                strength_model = model_dropdown(
                    defaults.image_to_image.PIPELINE_CLASSES, defaults.image_to_image.DEFAULT_MODEL
                )
                strength_image = checked(
                    gr.Image(label="Input", height=256, elem_classes="pixelated", **UPLOAD_SETTINGS)
                )
                gr.Examples(sorted(str(path) for path in EXAMPLES_DIR.glob("scene-*.png")), strength_image)
            with gr.Column():
                strength_prompt = gr.Textbox("", label="Prompt (text models only)", max_lines=2)
                strength_seed = seed_input()
                strengths = gr.Textbox(grids.DEFAULT_STRENGTHS, label="Strengths", max_lines=1)
                strength_scheduler, strength_steps = sampler_inputs(
                    defaults.image_to_image.DEFAULT_SCHEDULER, defaults.image_to_image.DEFAULT_STEPS
                )
        panel(
            "strength-sweep",
            [
                strength_model,
                strength_image,
                strength_prompt,
                strength_seed,
                strengths,
                strength_scheduler,
                strength_steps,
            ],
            run_strength_sweep,
            "strength_sweep",
        )
    task.change(task_shown, task, [sampler_model, sampler_prompt], queue=False, api_visibility="private")
    task.input(task_picked, task, [sampler_model, samplers], queue=False, api_visibility="private")  # the user's
    return tab_inputs
