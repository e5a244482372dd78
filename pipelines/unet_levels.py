"""What each level of the U-Net sees: a few feature channels at every resolution of its down, middle and up paths.

    from pipelines import unet_levels
    view = unet_levels.levels("shapes-sd", image, "a red circle", timestep=500, seed=0)
    view.diagram   # the U drawn with each level's channels in place, and its skip connections

The U-Net (Ronneberger et al. 2015) halves the resolution at each down block and doubles it again on the way up; each
up block also takes the features its down block of the same resolution left (the skip connections), which is how the
fine layout of x_t reaches the output past the coarse middle. Here x_t is the image's latent noised to timestep t
(the forward process), and one UNet call on it, conditioned on the prompt, is watched with forward hooks on the last
layer of every block (the shared UNet is not changed: the hooks are there for that one call only). Each level shows
the channels that vary most across its positions, each scaled to its own range (grey: low .. white: high).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from pipelines import latent_space
from pipelines.engine import torch_thread
from pipelines.engine.loading import load_pipeline
from pipelines.forward_process import check_seed, check_timestep, noisy_sample, seeded_noise, to_tensor
from pipelines.text_to_image import PIPELINE_CLASSES

SHOWN_CHANNELS = 4
TILE = 36  # px of one channel's map in the diagram
CELL_WIDTH, CELL_HEIGHT = 230, 2 * TILE + 34  # one block: its label over a 2x2 grid of maps
BACKGROUND, INK, SKIP_INK, PATH_INK = (255, 255, 255), (30, 30, 30), (40, 110, 220), (150, 150, 150)


@dataclass(frozen=True)
class Level:
    """One block's output: where it sits and its most varying channels, (channels, height, width) in [0, 1]."""

    path: str  # "down", "mid" or "up"
    index: int
    channels: int  # feature channels of the block
    maps: np.ndarray


@dataclass(frozen=True)
class LevelsView:
    levels: list[Level]
    diagram: np.ndarray  # (H, W, 3) uint8
    notices: list[str]


def last_layer(block: torch.nn.Module) -> torch.nn.Module:
    """The block's last layer before any resampling: its last attention if it has them, else its last resnet."""
    attentions = getattr(block, "attentions", None)
    return attentions[-1] if attentions else block.resnets[-1]


def most_varying(features: torch.Tensor, count: int = SHOWN_CHANNELS) -> np.ndarray:
    """The `count` channels of (channels, height, width) features that vary most over positions, each to [0, 1]."""
    spread = features.flatten(1).std(dim=1, correction=0)
    chosen = features[spread.argsort(descending=True)[:count]].float()
    low = chosen.flatten(1).min(dim=1).values[:, None, None]
    high = chosen.flatten(1).max(dim=1).values[:, None, None]
    return ((chosen - low) / (high - low).clamp_min(1e-6)).cpu().numpy()


def watched_call(unet: torch.nn.Module, noisy: torch.Tensor, timestep: int, prompt: torch.Tensor) -> list[Level]:
    """One UNet call with a forward hook on each block's last layer: each level's output, first image."""
    blocks = [("down", index, block) for index, block in enumerate(unet.down_blocks)]
    blocks += [("mid", 0, unet.mid_block)] + [("up", index, block) for index, block in enumerate(unet.up_blocks)]
    seen: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for path, index, block in blocks:

        def keep(_: torch.nn.Module, __: object, output: object, key: tuple[str, int] = (path, index)) -> None:
            seen[key] = (output if isinstance(output, torch.Tensor) else output[0])[0].detach()

        hooks.append(last_layer(block).register_forward_hook(keep))
    try:
        unet(noisy, torch.tensor([timestep]), encoder_hidden_states=prompt)
    finally:
        for hook in hooks:
            hook.remove()
    return [Level(path, index, len(seen[path, index]), most_varying(seen[path, index])) for path, index, _ in blocks]


def levels(model: str, image: Image.Image | None, prompt: str, timestep: int, seed: int) -> LevelsView:
    """`image`'s latent noised to `timestep` (noise from `seed`), through `model`'s UNet conditioned on `prompt`."""
    check_seed(seed)
    pipeline = load_pipeline(model, PIPELINE_CLASSES)
    check_timestep(timestep, len(pipeline.scheduler.alphas_cumprod))
    image, notices = latent_space.model_input(pipeline, image)
    alpha_prod = float(pipeline.scheduler.alphas_cumprod[timestep])

    def run() -> list[Level]:
        with torch.no_grad():
            pixels = to_tensor(image).to(pipeline.vae.device, pipeline.vae.dtype)
            latents = latent_space.encode_latents(pipeline, pixels)
            noisy = noisy_sample(latents, alpha_prod, seeded_noise(latents.shape, seed).to(latents))
            conditioning, _ = pipeline.encode_prompt(prompt, latents.device, 1, False)
            return watched_call(pipeline.unet, noisy, timestep, conditioning)

    watched = torch_thread.run(run)
    return LevelsView(watched, diagram(watched), notices)


def tiles(maps: np.ndarray) -> Image.Image:
    """A 2x2 grid of channel maps, each enlarged to TILE px (nearest neighbour), in grey."""
    grid = Image.new("RGB", (2 * TILE + 2, 2 * TILE + 2), PATH_INK)
    for number, channel in enumerate(maps[:4]):
        tile = Image.fromarray((channel * 255).round().astype(np.uint8)).resize((TILE, TILE), Image.Resampling.NEAREST)
        grid.paste(tile.convert("RGB"), ((number % 2) * (TILE + 2), (number // 2) * (TILE + 2)))
    return grid


def diagram(watched: list[Level]) -> np.ndarray:
    """The U: down blocks on the left from the top (finest) down, the middle at the bottom, up blocks on the right
    from the bottom up; grey arrows along the path, blue arrows for the skip connections (down block i to up block
    n-1-i, same resolution)."""
    down = [level for level in watched if level.path == "down"]
    count = len(down)
    width, height = 3 * CELL_WIDTH, (count + 1) * (CELL_HEIGHT + 14) + 10
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    places, sizes = {}, {}
    for level in watched:
        row = count if level.path == "mid" else level.index if level.path == "down" else count - 1 - level.index
        column = {"down": 0, "mid": 1, "up": 2}[level.path]
        left, top = column * CELL_WIDTH + 10, row * (CELL_HEIGHT + 14) + 10
        size = "x".join(str(side) for side in level.maps.shape[1:])
        draw.text((left, top), f"{level.path} {level.index if level.path != 'mid' else ''}".strip(), fill=INK)
        draw.text((left, top + 12), f"{size} · {level.channels} channels", fill=INK)
        canvas.paste(tiles(level.maps), (left, top + 28))
        places[level.path, level.index] = (left, top + 28)
        sizes[level.path, level.index] = f"{size}, {level.channels} channels"
    grid = 2 * TILE + 2
    for (path, index), (left, top) in places.items():
        if path == "down":  # the skip connection, at the same row
            right_left, _ = places["up", count - 1 - index]
            y = top + grid // 2
            draw.line([(left + grid + 4, y), (right_left - 6, y)], fill=SKIP_INK, width=2)
            draw.polygon([(right_left - 6, y - 4), (right_left, y), (right_left - 6, y + 4)], fill=SKIP_INK)
            draw.text((left + grid + 14, y - 14), f"skip: {sizes[path, index]}", fill=SKIP_INK)
            below = places["down", index + 1] if index + 1 < count else places["mid", 0]
            draw.line([(left + grid // 2, top + grid + 2), (below[0] + grid // 2, below[1] - 30)], fill=PATH_INK)
        if path == "up" and index > 0:  # up block i takes up block i-1's output (one row lower)
            below = places["up", index - 1]
            draw.line([(below[0] + grid // 2, below[1] - 30), (left + grid // 2, top + grid + 2)], fill=PATH_INK)
    if ("up", 0) in places:
        mid, up = places["mid", 0], places["up", 0]
        draw.line([(mid[0] + grid + 4, mid[1] + grid // 2), (up[0] + grid // 2, up[1] + grid + 2)], fill=PATH_INK)
    return np.asarray(canvas)
