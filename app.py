"""Diffusion Playground: watch a diffusion model turn noise into a picture, step by step.

    python app.py        # serves http://localhost:7860

This file only assembles the tabs, in a lesson's order (docs/design.md), and launches. Each tab is one module of
`tabs/` (its explanation, layout and handlers); what they share is `ui/`; the diffusion work is `pipelines/`.
"""

from __future__ import annotations

import gradio as gr

from pipelines.engine import limits
from tabs import (
    classifier_guidance,
    compare,
    how_it_works,
    image_to_image,
    inpainting,
    png_info,
    super_resolution,
    text_to_image,
    train_toy,
    unconditional,
)
from ui import gpu, sessions
from ui.components import CSS

sessions.install()  # new visitors' first events: cheaper on the event loop (ui/sessions.py)

# The reverse process first (noise turning into a picture), then why it works (and training one's own), then ways to
# steer it, then tools.
TABS = (
    unconditional,
    how_it_works,
    train_toy,
    classifier_guidance,
    text_to_image,
    inpainting,
    image_to_image,
    super_resolution,
    compare,
)

with gr.Blocks(title="Diffusion Playground", delete_cache=limits.DELETE_CACHE) as demo:
    gr.Markdown("# Diffusion Playground\nWatch diffusion models generate images, one denoising step at a time.")
    with gr.Tabs() as tabs:
        tab_inputs: dict[str, dict[str, gr.components.Component]] = {}  # task -> its inputs by parameter name
        tab_ids: dict[str, str] = {}  # task -> the id of its tab, which PNG info's Restore selects
        for tab in TABS:
            with gr.Tab(tab.TITLE, id=tab.ID, elem_id=f"{tab.ID}-tab"):
                inputs = tab.build()
            tab_inputs |= inputs
            tab_ids |= dict.fromkeys(inputs, tab.ID)
        with gr.Tab(png_info.TITLE, id=png_info.ID, elem_id=f"{png_info.ID}-tab"):
            png_info.build(tab_inputs, tab_ids, tabs)


def launch(warm_up: bool = False, prevent_thread_lock: bool = False, **options) -> None:
    """Serve the app within the serving limits (`pipelines/engine/limits.py`); options go to `demo.launch` (tests
    pass a port and `prevent_thread_lock`). On ZeroGPU, the preloaded models load first; elsewhere, with `warm_up`
    (`python app.py`, a Space), they load in the background once the page is served (`ui/gpu.py`): the UI is built
    without torch (`pipelines/defaults`), which a run imports."""
    limits.limit_allocator_arenas()
    gpu.preload()
    demo.queue(max_size=limits.MAX_QUEUE)
    limits_options = {"max_file_size": limits.MAX_FILE_SIZE, "state_session_capacity": limits.MAX_SESSIONS}
    demo.launch(css=CSS, prevent_thread_lock=True, **limits_options, **options)
    if warm_up:
        gpu.warm_up()
    if not prevent_thread_lock:
        demo.block_thread()


if __name__ == "__main__":
    launch(warm_up=True)
