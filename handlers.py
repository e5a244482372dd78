"""The app's event handlers, one per tab: what a tab's inputs become (a call of its task's generator),
streamed to the tab by `stream.stream_frames`.

The layout that calls them is `app.py`; the sampling they stream is `pipelines/`; what every run streams,
Stop, ZeroGPU and the replay are `stream.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
import numpy as np
from PIL import Image

from pipelines import (
    classifier_guidance,
    inpainting,
    limits,
    super_resolution,
    text_to_image,
    unconditional,
)
from pipelines.frames import LatentFrame
from stream import (
    RESULT_SIZE,
    enlarged_grid,
    loading_notice,
    run_seed,
    seeds_text,
    steps_text,
    stream_frames,
    tab_handler,
    tell,
    whole_number,
)


@tab_handler("unconditional")
def run_unconditional(
    slot: int,
    model: str,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    settings = {"model": model, "scheduler": scheduler, "steps": steps, "seed": seed, "batch_size": batch_size}
    yield from stream_frames(
        "unconditional",
        lambda: unconditional.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, "
            f"{seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, unconditional.PIPELINE_CLASSES),
        settings=settings,
    )


@tab_handler(
    "classifier_guidance", model=classifier_guidance.DEFAULT_MODEL, steps=2 * classifier_guidance.DEFAULT_STEPS
)  # guided and unguided images in one batch: twice the work of an unconditional run
def run_classifier_guidance(
    slot: int,
    target: str,
    guidance_scale: float,
    seed: float,
    batch_size: float,
) -> Iterator[tuple]:
    seed, batch_size = whole_number(seed, "Seed"), whole_number(batch_size, "Batch size")
    settings = {"target": target, "guidance_scale": guidance_scale, "seed": seed, "batch_size": batch_size}
    steps, scheduler = classifier_guidance.DEFAULT_STEPS, classifier_guidance.DEFAULT_SCHEDULER
    yield from stream_frames(
        "classifier_guidance",
        lambda: classifier_guidance.generate_steps(**settings),
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) guided towards “{target}” at strength {guidance_scale:g} in "
            f"{frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}; at the "
            f"last step {frame.probability_text()}. Result: top row guided, bottom row the same seeds without."
        ),
        slot,
        settings=settings,
        result=lambda frame: classifier_guidance.comparison(
            frame, scale=max(1, RESULT_SIZE // frame.predicted_original.shape[1])
        ),
    )


def prompts(prompt: object, negative_prompt: object) -> tuple[str, str]:
    """Both prompts as text of a bounded length, the user told of any cut."""
    prompt, notices = limits.cut_prompt(prompt)
    negative_prompt, negative_notices = limits.cut_prompt(negative_prompt, "negative prompt")
    tell(notices + negative_notices)
    return prompt, negative_prompt


@tab_handler("text_to_image")
def run_text_to_image(
    slot: int,
    model: str,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    scheduler: str,
    steps: float,
    seed: float,
    random_seed: bool,
    batch_size: float,
) -> Iterator[tuple]:
    steps, batch_size = whole_number(steps, "Steps"), whole_number(batch_size, "Batch size")
    seed = run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)

    def start() -> Iterator[LatentFrame]:
        tell(text_to_image.prompt_notices(model, prompt))
        return text_to_image.generate_steps(
            model, prompt, negative_prompt, guidance_scale, scheduler, steps, seed, batch_size
        )

    yield from stream_frames(
        "text_to_image",
        start,
        seed,
        lambda frame: (
            f"Done: {batch_size} image(s) of “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, guidance "
            f"{guidance_scale:g}, {steps_text(frame, steps, scheduler)}, {seeds_text(seed, batch_size)}."
        ),
        slot,
        announce=loading_notice(model, text_to_image.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
        },
    )


@tab_handler("inpainting")
def run_inpainting(
    slot: int,
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
    soft_mask: bool = False,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    prompt, negative_prompt = prompts(prompt, negative_prompt)
    if not isinstance(soft_mask, bool):
        raise gr.Error(f"Soft mask takes true or false; got {str(soft_mask)[:40]!r}.")

    def start() -> Iterator[LatentFrame]:
        size, multiple = inpainting.model_size(model)
        editor_value = editor if isinstance(editor, dict) else {}
        image, mask, notices = inpainting.prepare(
            editor_value.get("background"), editor_value.get("layers") or [], size, multiple, soft=soft_mask
        )
        tell(notices, gr.Info)  # conversions done to the upload
        tell(text_to_image.prompt_notices(model, prompt, inpainting.PIPELINE_CLASSES))
        settings = (model, image, mask, prompt, negative_prompt, strength, guidance_scale, scheduler, steps, seed)
        return inpainting.generate_steps(*settings, zoom=zoom, soft=soft_mask)

    yield from stream_frames(
        "inpainting",
        start,
        seed,
        lambda frame: (
            f"Done: repainted with “{limits.shown(prompt)}” in {frame.elapsed:.2f} s, strength {strength:g}"
            f"{', zoomed into the mask' if zoom else ''}{', soft mask' if soft_mask else ''}, "
            f"guidance {guidance_scale:g}, "
            f"{steps_text(frame, steps, scheduler)}, {seeds_text(seed, 1)}."
        ),
        slot,
        announce=loading_notice(model, inpainting.PIPELINE_CLASSES),
        settings={
            "model": model,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "strength": strength,
            "zoom": zoom,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "steps": steps,
            "seed": seed,
            "soft_mask": soft_mask,
        },
    )


def change_map_view(frames: list) -> np.ndarray | None:
    """The last inpainting run's change maps, |result - original| (black: unchanged), enlarged like the result."""
    last = frames[-1] if frames else None
    return enlarged_grid(last.change_maps) if isinstance(last, inpainting.InpaintedFrame) else None


BINARY_BRUSH_OPACITY = 0.7  # white strokes that still show the image; any stroke at least half opaque is masked


def mask_brush(soft_mask: bool = False, brush_strength: float = 1.0) -> gr.Brush:
    """The inpainting editor's brush: white, as opaque as the brush strength with a soft mask (the grey level it
    paints), else see-through."""
    opacity = min(max(float(brush_strength), 0.0), 1.0) if soft_mask else BINARY_BRUSH_OPACITY
    return gr.Brush(colors=[("#ffffff", opacity)], color_mode="fixed")


def soft_mask_brush(soft_mask: bool, brush_strength: float) -> tuple[gr.ImageEditor, gr.Slider]:
    """The editor's brush for this mode, and the brush strength slider shown only with a soft mask."""
    return gr.ImageEditor(brush=mask_brush(soft_mask, brush_strength)), gr.Slider(visible=soft_mask)


@tab_handler("super_resolution")
def run_super_resolution(
    slot: int,
    model: str,
    photo: Image.Image | None,
    scheduler: str,
    steps: float,
    eta: float,
    seed: float,
    random_seed: bool,
    prompt: str,
    guidance_scale: float,
    noise_level: float,
    consistent: bool = True,
    samples: float = super_resolution.DEFAULT_SAMPLES,
) -> Iterator[tuple]:
    steps, seed = whole_number(steps, "Steps"), run_seed(seed, random_seed)
    noise_level, samples = whole_number(noise_level, "Noise level"), whole_number(samples, "Samples averaged")
    prompt, _ = prompts(prompt, "")
    prepared: list[Image.Image] = []  # the input as upscaled, for the bicubic comparison

    def start() -> Iterator[LatentFrame]:
        image, notices = super_resolution.prepare(photo)
        tell(notices, gr.Info)  # conversions done to the upload
        prepared.append(image)
        return super_resolution.generate_steps(
            model, image, scheduler, steps, seed, eta, prompt, guidance_scale, noise_level, consistent, samples
        )

    def done(frame: LatentFrame) -> str:
        width, height = prepared[0].size
        return (
            f"Done: {width}×{height} upscaled to {width * super_resolution.SCALE}×{height * super_resolution.SCALE} "
            f"in {frame.elapsed:.2f} s, {steps_text(frame, steps, scheduler)}, eta {eta:g}, {seeds_text(seed, 1)}, "
            f"{'the mean of ' + str(samples) + ' samples' if samples > 1 else 'one sample'}, "
            f"{'back-projected onto the photo' if consistent else 'raw model output'}. "
            "Drag the slider over the result: bicubic interpolation on the left, diffusion on the right."
        )

    yield from stream_frames(
        "super_resolution",
        start,
        seed,
        done,
        slot,
        result=lambda frame: (super_resolution.bicubic(prepared[0]), frame.predicted_original[0]),
        announce=loading_notice(model, super_resolution.PIPELINE_CLASSES),
        settings={
            "model": model,
            "scheduler": scheduler,
            "steps": steps,
            "eta": eta,
            "seed": seed,
            "prompt": prompt,
            "guidance_scale": guidance_scale,
            "noise_level": noise_level,
            "consistent": consistent,
            "samples": samples,
        },
    )
