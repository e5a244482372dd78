"""Uploaded images made into what a model takes: 8-bit RGB, at a size it can use.

Users upload anything: RGBA, greyscale, palette, CMYK, 16-bit, huge photos. Each function here
returns the converted image and the notices the user should see about what was done to it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.engine import limits

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def check_pixels(source: str | Path | bytes) -> None:
    """Refuse an image of more than `limits.MAX_IMAGE_PIXELS` pixels from its header alone: `Image.open` reads the
    size (PNG's IHDR, JPEG's SOF, WebP's and GIF's headers; an animation's first frame) and decodes nothing. A file
    that is not an image passes: reading it says what is wrong with it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:  # Pillow's own check, on opening: over twice its limit
        raise ValueError(too_large(f"over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels")) from error
    except (OSError, SyntaxError, ValueError):
        return
    if width * height > limits.MAX_IMAGE_PIXELS:
        raise ValueError(too_large(f"{width}×{height}, {width * height / 1e6:.0f} megapixels"))


def too_large(size: str) -> str:
    return (
        f"The image is too large to open safely ({size}); this app takes at most "
        f"{limits.MAX_IMAGE_PIXELS / 1e6:g} megapixels. Reduce it and upload it again."
    )


def to_rgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """8-bit RGB: transparency composited onto black (the shapes world's background), 16-bit scaled to 8."""
    mode = image.mode
    if mode == "RGB":
        return image, []
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.round(values / max(65535.0, values.max()) * 255).astype(np.uint8), "L")
    if mode == "P":
        image = image.convert("RGBA")  # a palette may hold transparency
    transparent = image.mode in ("RGBA", "LA", "PA") and image.getchannel("A").getextrema()[0] < 255
    if transparent:
        image = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image.convert("RGBA"))
    elif mode == "RGBA":  # what the image editor sends: opaque, nothing to say
        return image.convert("RGB"), []
    detail = "; transparent parts became black" if transparent else ""
    return image.convert("RGB"), [f"The image was {mode}; it was converted to 8-bit RGB{detail}."]


def fit_size(width: int, height: int, longest: int, multiple: int) -> tuple[int, int]:
    """The size of width x height scaled so that its longer side is `longest`, each side a multiple of `multiple`."""
    scale = longest / max(width, height)
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in (width, height))


def resize_for_model(image: Image.Image, longest: int, multiple: int) -> tuple[Image.Image, list[str]]:
    """Resize to the model's own size (its longer side `longest`), with a notice when the size changes."""
    size = fit_size(*image.size, longest, multiple)
    if size == image.size:
        return image, []
    notice = (
        f"The image was resized from {image.width}×{image.height} to {size[0]}×{size[1]}, the size this model takes."
    )
    return image.resize(size, Image.Resampling.LANCZOS), [notice]
