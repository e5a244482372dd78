"""What a run leaves to take home, as the app's events see it: the files of a run's last update.

`kept` is called by `stream.stream_frames` at the end of every run: the result as shown becomes a PNG
file carrying the run's settings (Gradio serves a file path as it is; an array it would encode again,
without them), beside the trajectory animation and the contact sheet (`pipelines.keepsakes`). The PNG info tab
reads such a PNG back (`tabs/png_info.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gradio as gr
import numpy as np

from pipelines.engine.frames import Frame, LatentFrame
from pipelines.keepsakes.files import keepsakes


def kept(
    task: str, settings: Mapping[str, object], frames: Sequence[Frame | LatentFrame], shown: object
) -> tuple[object, str | None, str | None]:
    """The result to show, its image written as a PNG with `settings` (of a before/after pair, the after one),
    then the paths of the trajectory animation and the contact sheet. `shown` is None for a stopped run (no
    result). A file that cannot be written is a warning, not a failed run."""
    pair = isinstance(shown, tuple)
    image = shown[-1] if pair else shown
    try:
        files = keepsakes(task, settings, frames, None if image is None else np.asarray(image))
    except OSError as error:
        gr.Warning(f"The run's files could not be written ({error}); the result is shown without them.")
        return shown, None, None
    if files.png is not None:
        shown = (*shown[:-1], str(files.png)) if pair else str(files.png)
    return shown, str(files.animation), str(files.sheet)
