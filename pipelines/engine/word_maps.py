"""Where each word looks: the cross-attention of every prompt token, recorded per request while the picture forms.

Stable Diffusion's UNet reads the prompt in its cross-attention layers (`attn2` of every transformer block): each
latent position takes a softmax over the prompt's tokens, softmax(Q K^T / sqrt(d)), and mixes their values. That
softmax, for one token, is a map of where in the picture the token acts. As DAAM (Tang et al. 2022, "What the DAAM:
interpreting Stable Diffusion using cross attention") does, the maps are averaged over heads, brought to the latent's
size and summed over layers; here at every step, and streamed: the step's map, and the maps summed so far.

How, without a fork of the UNet, and with many users' requests in one forward pass (`pipelines.engine.batching`):
- `install(unet)` wraps the processor of each cross-attention layer of the shared UNet in a `WordMapProcessor`
  (once; it keeps the processor it wraps, so hub models and attention back-ends stay as they are).
- A request that wants maps has a `WordMapRecorder`; its UNet call carries it. `recording(...)` tells the processors,
  for the one forward pass, which rows of the (concatenated) batch belong to which recorder: the conditional half of
  that request's rows under classifier-free guidance (the unconditional half reads the empty prompt).
- Outside `recording` the processors call the processor they wrap, after one check of a module global: maps off cost
  nothing. Within it, the wrapped processor still makes the layer's output (the images do not change), and the
  recorded rows' attention probabilities are computed once more beside it: the price of maps on (bench/word_maps.py).
Every UNet call runs on the torch thread (`pipelines.engine.torch_thread`) and tasks switch only between calls, so one
global for the pass being run is enough.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.models.attention_processor import Attention

from pipelines.engine.frames import LatentFrame


@dataclass
class Rows:
    """The rows of a forward pass's batch that one recorder reads: [start, stop)."""

    recorder: WordMapRecorder
    start: int
    stop: int


_recording: list[Rows] | None = None  # set only for the forward pass being run, by `recording`


class WordMapRecorder:
    """One request's maps: for every UNet call, each prompt word's attention over the latent (summed over layers).

    `recorded[i]` holds call i's maps and their sum over calls 1..i, each (images, words, height, width) float32, until
    its frame takes them (`take`): what is kept is bounded by how far the loop runs ahead of its consumer.
    """

    def __init__(self, words: list[str], guided: bool) -> None:
        self.words = words  # the prompt's tokens between the start and end tokens, as text
        self.guided = guided  # classifier-free guidance: the first half of a call's rows is unconditional
        self.calls = 0  # UNet calls recorded
        self.recorded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._summed: np.ndarray | None = None
        self._current: torch.Tensor | None = None
        self._size: tuple[int, int] = (0, 0)

    def rows(self, start: int, stop: int) -> Rows:
        """This request's conditional rows, where its call's rows are [start, stop) of the forward pass."""
        return Rows(self, start + (stop - start) // 2 if self.guided else start, stop)

    def begin(self, latent_size: tuple[int, int]) -> None:
        self._current, self._size = None, latent_size

    def add(self, probabilities: torch.Tensor) -> None:
        """One layer's attention probabilities, (images, positions, tokens), averaged over heads."""
        height, width = self._size
        scale = math.sqrt(height * width / probabilities.shape[1])  # the layer's downsampling factor
        layer_size = (round(height / scale), round(width / scale))
        words = probabilities[:, :, 1 : 1 + len(self.words)].float()  # the start token takes most: left out
        maps = words.transpose(1, 2).reshape(words.shape[0], len(self.words), *layer_size)
        maps = torch.nn.functional.interpolate(maps, size=self._size, mode="bilinear", align_corners=False)
        self._current = maps if self._current is None else self._current + maps

    def end(self) -> None:
        """The call ran to its end: its maps become the next step's."""
        if self._current is None:
            return
        maps = self._current.cpu().numpy()
        self._summed = maps if self._summed is None else self._summed + maps
        self.calls += 1
        self.recorded[self.calls] = maps, self._summed
        self._current = None

    def take(self, call: int) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Call `call`'s maps and their sum so far (the latest recorded if that call's are not), dropping any older."""
        call = min(call, self.calls)  # a stopped run's last frame may come after its last call
        for older in [number for number in self.recorded if number < call]:
            del self.recorded[older]
        return self.recorded.get(call, (None, None))


@contextmanager
def recording(rows: list[Rows], latent_size: tuple[int, int]) -> Iterator[None]:
    """Within this block, the installed processors record `rows` of the forward pass (no rows: nothing recorded)."""
    global _recording
    if not rows:
        yield
        return
    for row in rows:
        row.recorder.begin(latent_size)
    _recording = rows
    try:
        yield
    finally:
        _recording = None
    for row in rows:  # only a pass that ran to its end counts (a failed batch is run again call by call)
        row.recorder.end()


class WordMapProcessor:
    """Wraps a cross-attention layer's processor: the same output, and the attention probabilities of the rows
    being recorded (`recording`) handed to their recorders."""

    def __init__(self, processor: object) -> None:
        self.processor = processor

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: object,
        **kwargs: object,
    ) -> torch.Tensor:
        if _recording is not None and encoder_hidden_states is not None and hidden_states.ndim == 3:
            for row in _recording:
                context = encoder_hidden_states[row.start : row.stop]
                if attn.norm_cross:
                    context = attn.norm_encoder_hidden_states(context)
                query = attn.head_to_batch_dim(attn.to_q(hidden_states[row.start : row.stop]))
                key = attn.head_to_batch_dim(attn.to_k(context))
                probabilities = attn.get_attention_scores(query, key)  # (rows * heads, positions, tokens)
                per_head = probabilities.reshape(-1, attn.heads, *probabilities.shape[1:])
                row.recorder.add(per_head.mean(dim=1))
        return self.processor(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def active() -> bool:
    """Is a forward pass being recorded now (its attention must then run through the installed processors)?"""
    return _recording is not None


def install(unet: torch.nn.Module) -> None:
    """Wrap every cross-attention processor of `unet` in a `WordMapProcessor` (once: later calls change nothing)."""
    for module in unet.modules():
        cross_attention = isinstance(module, Attention) and module.is_cross_attention
        if cross_attention and not isinstance(module.processor, WordMapProcessor):
            module.set_processor(WordMapProcessor(module.processor))


def prompt_words(tokenizer: object, prompt: str) -> list[str]:
    """The prompt's tokens as the text encoder reads them (cut to its length), without the start and end tokens."""
    ids = tokenizer(prompt, truncation=True).input_ids[1:-1]
    return [token.removesuffix("</w>") for token in tokenizer.convert_ids_to_tokens(ids)]


@dataclass(frozen=True)
class WordMapFrame(LatentFrame):
    """A latent frame with the word maps of its step: (images, words, height, width) each, at the latent's size."""

    words: tuple[str, ...] = ()
    step_maps: np.ndarray | None = None  # this step's
    summed_maps: np.ndarray | None = None  # summed over the steps so far  # summed over the steps so far


def with_maps(frames: Iterator[LatentFrame], recorder: WordMapRecorder) -> Iterator[WordMapFrame]:
    """`frames` with each step's maps: a frame is made after its step's UNet call, so its maps are recorded by then."""
    with closing(frames):
        for frame in frames:
            step_maps, summed_maps = recorder.take(frame.step)
            yield WordMapFrame(
                **{name: getattr(frame, name) for name in frame.__dataclass_fields__},
                words=tuple(recorder.words),
                step_maps=step_maps,
                summed_maps=summed_maps,
            )


HEAT_COLOURS = np.array([[0, 0, 0], [120, 0, 160], [230, 40, 40], [255, 200, 0], [255, 255, 255]], np.float32)


def heat(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) to an RGB heat colour (black, purple, red, yellow, white), float32."""
    position = np.clip(values, 0, 1) * (len(HEAT_COLOURS) - 1)
    low = np.floor(position).astype(int).clip(0, len(HEAT_COLOURS) - 2)
    fraction = (position - low)[..., None]
    return HEAT_COLOURS[low] * (1 - fraction) + HEAT_COLOURS[low + 1] * fraction


def overlay(image: np.ndarray, word_map: np.ndarray, weight: float = 0.6) -> np.ndarray:
    """A word's map (height, width), scaled to its peak, brought to the image's size (bilinear) and laid over the
    (H, W, 3) uint8 image: `weight` of heat colour where the word looks most."""
    resized = upsampled(word_map, image.shape[:2])
    scaled = resized / max(float(resized.max()), 1e-12)
    alpha = weight * scaled[..., None]
    return (image.astype(np.float32) * (1 - alpha) + heat(scaled) * alpha).round().clip(0, 255).astype(np.uint8)


def upsampled(word_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (height, width) map brought to `size` (bilinear), as DAAM brings its maps to the image."""
    tensor = torch.from_numpy(np.ascontiguousarray(word_map, np.float32))[None, None]
    return torch.nn.functional.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def peak(word_map: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Where a map peaks in an image of `size` (height, width), as (x, y) pixels, the map upsampled first."""
    y, x = np.unravel_index(int(np.argmax(upsampled(word_map, size))), size)
    return int(x), int(y)


def word_views(frame: WordMapFrame, image: np.ndarray, scale: int = 4) -> list[tuple[np.ndarray, str]]:
    """Each word's view over `image` (the first image's latest x̂0, (H, W, 3) uint8): its map at this step beside its
    map summed so far, of the first image of the batch, enlarged `scale` times, captioned with the word."""
    gap = np.full((image.shape[0], 1, 3), 96, np.uint8)
    views = []
    for word, step_map, summed_map in zip(frame.words, frame.step_maps[0], frame.summed_maps[0]):
        view = np.concatenate([overlay(image, step_map), gap, overlay(image, summed_map)], axis=1)
        views.append((view.repeat(scale, axis=0).repeat(scale, axis=1), word))
    return views
