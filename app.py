"""Diffusion Playground: watch a diffusion model turn noise into a picture, step by step.

    python app.py        # serves http://localhost:7860

UI only: the layout, then the event wiring. What the events do is `handlers.py`; sampling lives in `pipelines/`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import gradio as gr

import compare
import how_it_works
import keep
import sessions
from components import (
    UPLOAD_SETTINGS,
    batch_slider,
    checked,
    guidance_slider,
    model_dropdown,
    run_buttons,
    sampler_inputs,
    seed_inputs,
    stream_outputs,
)
from explanations import (
    CLASSIFIER_GUIDANCE_EXPLANATION,
    EXPLANATION,
    INPAINTING_EXPLANATION,
    LATENT_EXPLANATION,
    PNG_INFO_EXPLANATION,
    SUPER_RESOLUTION_EXPLANATION,
)
from handlers import (
    change_map_view,
    mask_brush,
    run_classifier_guidance,
    run_inpainting,
    run_super_resolution,
    run_text_to_image,
    run_unconditional,
    soft_mask_brush,
)
from pipelines import classifier_guidance, inpainting, limits, super_resolution, text_to_image, unconditional
from stream import MAX_SEED, MODEL_SETTINGS, model_defaults, play, play_step, replay_step, stopper

sessions.install()  # new visitors' first events: cheaper on the event loop (sessions.py)

EXAMPLE_PROMPTS = [
    ["a large red circle on the left"],
    ["a small blue square"],
    ["a yellow triangle on the top"],
    ["a green circle and a purple square"],
    ["a white triangle in the center"],
]
EXAMPLES_DIR = Path(__file__).resolve().parent / "assets" / "examples"
EXAMPLE_SCENES = sorted(str(path) for path in EXAMPLES_DIR.glob("scene-*.png"))
EXAMPLE_PHOTOS = sorted(str(path) for path in EXAMPLES_DIR.glob("photo-*.png"))
# Small images are enlarged by the browser: keep their pixels sharp instead of blurring them.
CSS = ".pixelated img, .pixelated canvas { image-rendering: pixelated; object-fit: contain; }"

with gr.Blocks(title="Diffusion Playground", delete_cache=limits.DELETE_CACHE) as demo:
    gr.Markdown("# Diffusion Playground\nWatch diffusion models generate images, one denoising step at a time.")
    tabs = gr.Tabs()  # every tab goes in (`with tabs, gr.Tab(...)`): PNG info selects one
    with tabs, gr.Tab("Unconditional", id="unconditional", elem_id="unconditional-tab"):
        gr.Markdown(EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                model = model_dropdown(unconditional.PIPELINE_CLASSES, unconditional.DEFAULT_MODEL)
                scheduler, steps = sampler_inputs(unconditional.DEFAULT_SCHEDULER, unconditional.DEFAULT_STEPS)
                seed, random_seed = seed_inputs()
                batch_size = batch_slider()
                generate_button, stop_button = run_buttons()
            with gr.Column(scale=2):
                unconditional_outputs = stream_outputs(
                    "unconditional", "x_t: noisy sample", "x̂₀: predicted clean image"
                )

    with tabs, gr.Tab("Classifier guidance", id="classifier-guidance", elem_id="classifier-guidance-tab"):
        gr.Markdown(CLASSIFIER_GUIDANCE_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                guidance_target = checked(
                    gr.Dropdown(list(classifier_guidance.targets()), value="red", label="Target: a colour or a shape")
                )
                guidance_strength = checked(
                    gr.Slider(
                        0,
                        classifier_guidance.MAX_GUIDANCE_SCALE,
                        value=classifier_guidance.DEFAULT_GUIDANCE_SCALE,
                        step=0.5,
                        label="Guidance strength s (0: none)",
                    )
                )
                guided_seed = checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
                guided_batch_size = batch_slider()
                guided_generate, guided_stop = run_buttons()
            with gr.Column(scale=2):
                guided_outputs = stream_outputs(
                    "classifier-guidance", "x_t: guided noisy sample", "x̂₀: guided prediction"
                )

    with tabs, gr.Tab("Text to image", id="text-to-image", elem_id="text-to-image-tab"):
        gr.Markdown(LATENT_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                t2i_model = model_dropdown(text_to_image.PIPELINE_CLASSES, text_to_image.DEFAULT_MODEL)
                prompt = gr.Textbox("a large red circle on the left", label="Prompt", max_lines=2)
                negative_prompt = gr.Textbox("", label="Negative prompt", max_lines=2)
                guidance = guidance_slider()
                t2i_scheduler, t2i_steps = sampler_inputs(text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS)
                t2i_seed, t2i_random_seed = seed_inputs()
                t2i_batch_size = batch_slider()
                t2i_generate, t2i_stop = run_buttons()
                gr.Examples(EXAMPLE_PROMPTS, inputs=[prompt], label="Example prompts")
            with gr.Column(scale=2):
                t2i_outputs = stream_outputs(
                    "text-to-image", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
                )

    with tabs, gr.Tab("Inpainting", id="inpainting", elem_id="inpainting-tab"):
        gr.Markdown(INPAINTING_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                inpaint_model = model_dropdown(inpainting.PIPELINE_CLASSES, inpainting.DEFAULT_MODEL)
                editor = gr.ImageEditor(
                    label="Image: paint over the part to repaint",
                    brush=mask_brush(),
                    transforms=(),
                    height=320,
                    elem_classes="pixelated",
                    **UPLOAD_SETTINGS,
                )
                gr.Examples(EXAMPLE_SCENES, inputs=[editor], label="Example images")
                inpaint_prompt = gr.Textbox("a green triangle", label="Prompt", max_lines=2)
                inpaint_negative = gr.Textbox("", label="Negative prompt", max_lines=2)
                strength = gr.Slider(0.05, 1, value=inpainting.DEFAULT_STRENGTH, step=0.05, label="Strength")
                zoom = gr.Checkbox(True, label="Zoom into the mask: repaint only the masked area, at full resolution")
                soft_mask = checked(
                    gr.Checkbox(
                        False,
                        label="Soft mask",
                        info="The brush paints grey levels: how much each pixel may change (0 keeps, 1 repaints).",
                    )
                )
                brush_strength = gr.Slider(
                    0.05, 1, value=0.5, step=0.05, label="Brush strength (grey level painted)", visible=False
                )
                inpaint_guidance = guidance_slider()
                inpaint_scheduler, inpaint_steps = sampler_inputs(
                    text_to_image.DEFAULT_SCHEDULER, text_to_image.DEFAULT_STEPS
                )
                inpaint_seed, inpaint_random_seed = seed_inputs()
                inpaint_generate, inpaint_stop = run_buttons()
            with gr.Column(scale=2):
                inpaint_outputs = stream_outputs(
                    "inpainting", "x_t: the 4 latent channels", "x̂₀: predicted clean image, decoded"
                )
                change_map = gr.Image(
                    label="Change map: |result − original|, black = unchanged",
                    format="png",
                    height=320,
                    elem_classes="pixelated",
                    elem_id="inpainting-change-map",
                )

    with tabs, gr.Tab("Super-resolution", id="super-resolution", elem_id="super-resolution-tab"):
        gr.Markdown(SUPER_RESOLUTION_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=1):
                sr_model = model_dropdown(super_resolution.PIPELINE_CLASSES, super_resolution.DEFAULT_MODEL)
                photo = checked(
                    gr.Image(
                        label=f"Photo to upscale (at most {super_resolution.MAX_INPUT_PIXELS:,} pixels, or reduced)",
                        height=256,
                        elem_classes="pixelated",
                        **UPLOAD_SETTINGS,
                    )
                )
                gr.Examples(
                    EXAMPLE_PHOTOS,
                    inputs=[photo],
                    label="Example photos (astronaut and coffee: never seen in training)",
                )
                sr_scheduler, sr_steps = sampler_inputs(
                    super_resolution.DEFAULT_SCHEDULER, super_resolution.DEFAULT_STEPS
                )
                eta = gr.Slider(
                    0, 1, value=super_resolution.DEFAULT_ETA, step=0.05, label="Eta (DDIM: 0 deterministic, 1 random)"
                )
                sr_samples = checked(
                    gr.Slider(
                        1,
                        super_resolution.MAX_SAMPLES,
                        value=super_resolution.DEFAULT_SAMPLES,
                        step=1,
                        label="Samples averaged",
                        info="Their mean is closer to the photo on average, one sample sharper (each sees the photo "
                        "mirrored a different way).",
                    )
                )
                sr_seed, sr_random_seed = seed_inputs()
                consistent = gr.Checkbox(
                    True,
                    label="Consistent with the photo",
                    info="Back-projection: the result, shrunk 4×, gives the photo back. Off: the model's raw output.",
                )
                with gr.Accordion("Stable Diffusion upscaler only", open=False):
                    sr_prompt = gr.Textbox("", label="Prompt", max_lines=2)
                    sr_guidance = guidance_slider()
                    noise_level = gr.Slider(
                        0,
                        super_resolution.MAX_NOISE_LEVEL,
                        value=super_resolution.DEFAULT_NOISE_LEVEL,
                        step=1,
                        label="Noise level added to the input",
                    )
                sr_generate, sr_stop = run_buttons()
            with gr.Column(scale=2):
                sr_outputs = stream_outputs(
                    "super-resolution", "x_t: the 3 latent channels", "x̂₀: predicted photo, decoded", compare=True
                )

    with tabs, gr.Tab("PNG info", id="png-info", elem_id="png-info-tab"):
        gr.Markdown(PNG_INFO_EXPLANATION)
        with gr.Row():
            png_image = checked(
                gr.Image(
                    label="PNG with settings",
                    type="filepath",  # the file as uploaded: decoded and saved again, it would lose its text
                    image_mode=None,
                    sources=("upload",),
                    height=320,
                    elem_classes="pixelated",
                    elem_id="png-info-image",
                )
            )
            with gr.Column():
                png_text = gr.Textbox(label="Parameters", lines=5, interactive=False, elem_id="png-info-text")
                png_notices = gr.Markdown(elem_id="png-info-notices")
                png_found = gr.JSON(visible=False)  # the settings Restore puts back
                restore_button = gr.Button("Restore these settings into their tab", variant="primary")

    with tabs, gr.Tab("How it works", id="how-it-works", elem_id="how-it-works-tab"):
        how_it_works.build()

    with tabs, gr.Tab("Compare", id="compare", elem_id="compare-tab"):
        compare_inputs = compare.build()

    tab_inputs: dict[str, dict[str, gr.components.Component]] = {}  # task -> its inputs by parameter name

    def wire(button, stop, handler, inputs: list, seed: gr.Number, outputs: list, api_name: str) -> None:
        """Generate streams into the tab's outputs; Stop ends this tab's run; the slider replays it.

        A click on Generate while this tab's last run is still finishing (just after Stop) is kept and runs
        next ("always_last"; Gradio's default drops it). Many users' runs go at once (`limits`)."""
        noisy, estimate, result, status, replay, frames, animation, sheet, play_button, timer = outputs
        tab_inputs[handler.task] = dict(zip(inspect.signature(handler).parameters, inputs))
        button.click(
            handler,
            inputs=inputs,
            outputs=[noisy, estimate, result, status, seed, replay, animation, sheet, frames],
            api_name=api_name,
            show_progress="minimal",
            trigger_mode="always_last",
            concurrency_limit=limits.CONCURRENT_RUNS,
        )
        stop.click(stopper(handler.task), queue=False, api_visibility="private")
        replay.input(replay_step, inputs=[replay, frames], outputs=[noisy, estimate, status], api_visibility="private")
        play_button.click(play, inputs=frames, outputs=[timer, replay], api_visibility="private")
        timer.tick(play_step, [replay, frames], [replay, noisy, estimate, status, timer], api_visibility="private")
        if "model" not in tab_inputs[handler.task]:  # classifier guidance: one model, no dropdown
            return
        settings = tuple(name for name in MODEL_SETTINGS if name in tab_inputs[handler.task])
        model = tab_inputs[handler.task]["model"]
        outputs = [tab_inputs[handler.task][name] for name in settings]
        # on the user's pick only (`input`): restoring a PNG's settings sets the model and its steps at once
        model.input(model_defaults(settings), inputs=model, outputs=outputs, queue=False, api_visibility="private")

    wire(
        generate_button,
        stop_button,
        run_unconditional,
        [model, scheduler, steps, seed, random_seed, batch_size],
        seed,
        unconditional_outputs,
        "unconditional",
    )
    wire(
        guided_generate,
        guided_stop,
        run_classifier_guidance,
        [guidance_target, guidance_strength, guided_seed, guided_batch_size],
        guided_seed,
        guided_outputs,
        "classifier_guidance",
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
            soft_mask,
        ],
        inpaint_seed,
        inpaint_outputs,
        "inpaint",
    )
    for brush_setting in (soft_mask, brush_strength):
        brush_setting.change(
            soft_mask_brush,
            [soft_mask, brush_strength],
            [editor, brush_strength],
            queue=False,
            api_visibility="private",
        )
    inpaint_outputs[2].change(change_map_view, inpaint_outputs[5], change_map, queue=False, api_visibility="private")
    wire(
        sr_generate,
        sr_stop,
        run_super_resolution,
        [
            sr_model,
            photo,
            sr_scheduler,
            sr_steps,
            eta,
            sr_seed,
            sr_random_seed,
            sr_prompt,
            sr_guidance,
            noise_level,
            consistent,
            sr_samples,
        ],
        sr_seed,
        sr_outputs,
        "super_resolution",
    )
    png_image.change(keep.png_info, png_image, [png_text, png_notices, png_found], api_name="png_info")
    tab_ids = {task: task.replace("_", "-") for task in tab_inputs} | dict.fromkeys(compare_inputs, "compare")
    restore_names, restore_outputs = keep.restore_targets(tab_inputs | compare_inputs)
    restore_button.click(
        keep.restorer(restore_names, tab_ids),
        png_found,
        [*restore_outputs, tabs],
        api_visibility="private",
    )


def launch(**options) -> None:
    """Serve the app within the serving limits (`pipelines/limits.py`); options go to `demo.launch` (tests pass
    a port and `prevent_thread_lock`)."""
    demo.queue(max_size=limits.MAX_QUEUE)
    demo.launch(css=CSS, max_file_size=limits.MAX_FILE_SIZE, **options)


if __name__ == "__main__":
    launch()
