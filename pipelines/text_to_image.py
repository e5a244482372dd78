"""Text to image: StableDiffusionPipeline, streamed step by step through its callback.

    from pipelines.text_to_image import generate, generate_steps
    for frame in generate_steps("shapes-sd", "a red circle on the left", seed=0):
        print(frame.step, frame.timestep)          # frame.predicted_original: x̂0, decoded
    images = generate(prompt="a blue square").predicted_original

The embedded `shapes-sd` (32x32 shapes, 8x8x4 latents) and Stable Diffusion 1.x/2.x hub
repositories go through the same code: the shared pipeline is loaded once, and every request
makes its own with `from_pipe` and a fresh scheduler, so users never share scheduler state or
the interrupt flag.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import deque
from collections.abc import Iterator

import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline
from transformers import PreTrainedTokenizerBase

from pipelines.defaults.text_to_image import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_MODEL,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    MAX_BATCH_SIZE,
    MAX_GUIDANCE_SCALE,
    MAX_SEED,
    PIPELINE_CLASSES,
)
from pipelines.engine import accelerated, batching, word_maps
from pipelines.engine.frames import LatentFrame
from pipelines.engine.loading import load_pipeline, make_scheduler, max_steps
from pipelines.engine.streaming import stream_pipeline

SMALL_VOCABULARY = 1000  # tokenizers smaller than this were built for one data set: check the prompt's words


def known_words(tokenizer: PreTrainedTokenizerBase) -> set[str]:
    """The whole words of a small BPE vocabulary: tokens that end a word and never merge into a longer one.

    A BPE vocabulary also holds fragments ending a word ("ange</w>" on the way to "orange</w>"); those
    are right-hand parts of merges, whole words never are.
    """
    merges = tokenizer.backend_tokenizer.to_str()
    fragments = {right for _, right in re.findall(r'\[\s*"([^"]+)",\s*"([^"]+)"\s*\]', merges)}
    suffix = "</w>"
    return {
        token[: -len(suffix)] for token in tokenizer.get_vocab() if token.endswith(suffix) and token not in fragments
    }


def prompt_notices(model: str, prompt: str, accepted: tuple[str, ...] = PIPELINE_CLASSES) -> list[str]:
    """What a user should know about a prompt before it runs: empty, too long, or words the model never saw."""
    tokenizer = load_pipeline(model, accepted).tokenizer
    if not prompt.strip():
        return ["The prompt is empty: the model draws an unconditional sample, anything it has learnt."]
    notices = []
    token_count = len(tokenizer(prompt).input_ids)
    if token_count > tokenizer.model_max_length:
        kept = tokenizer.decode(tokenizer(prompt, truncation=True).input_ids, skip_special_tokens=True)
        notices.append(
            f"The prompt is {token_count} tokens long; this model reads {tokenizer.model_max_length} "
            f"(with start and end), so it was cut to: “{kept}”."
        )
    if len(tokenizer) < SMALL_VOCABULARY:
        vocabulary = known_words(tokenizer)
        unknown = [word for word in re.findall(r"[a-z]+", prompt.lower()) if word not in vocabulary]
        if unknown:
            notices.append(
                f"This model never saw the word(s) {', '.join(sorted(set(unknown)))}; it knows only: "
                f"{', '.join(sorted(vocabulary))}."
            )
    return notices


def check_settings(steps: int, most_steps: int, guidance_scale: float, seed: int, batch_size: int) -> None:
    if not 1 <= steps <= most_steps:
        raise ValueError(f"Steps must be between 1 and {most_steps} for this model and scheduler; got {steps}.")
    if not 1.0 <= guidance_scale <= MAX_GUIDANCE_SCALE:
        raise ValueError(
            f"Guidance scale must be between 1 (no guidance) and {MAX_GUIDANCE_SCALE}; got {guidance_scale}."
        )
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"Batch size must be between 1 and {MAX_BATCH_SIZE}; got {batch_size}.")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be between 0 and {MAX_SEED}; got {seed}.")


# `from_pipe` casts the shared models to float32 (a no-op here), which makes diffusers 0.42 warn that "modules that
# should be kept in float32: []" might not be: a warning about an empty list, dropped.
logging.getLogger("diffusers.models.modeling_utils").addFilter(
    lambda record: "should be kept in float32: []" not in record.getMessage()
)
DERIVED = "_playground_derived"  # the attribute of a shared pipeline that holds the pipelines made from it, by class


def request_pipeline(
    model: str,
    scheduler: str,
    pipeline_class: type[DiffusionPipeline] = StableDiffusionPipeline,
    accepted: tuple[str, ...] = PIPELINE_CLASSES,
    recorder: word_maps.WordMapRecorder | None = None,
) -> DiffusionPipeline:
    """A `pipeline_class` for one request: the shared weights, a scheduler and an interrupt flag of its own, and
    `recorder` recording where each word of its prompt looks (engine/word_maps.py), if given."""
    shared = load_pipeline(model, accepted)
    if recorder is not None:
        word_maps.install(shared.unet)
    # `from_pipe` once per model and class (~8 ms: it builds the pipeline and casts every module), then a shallow copy
    # per request: what a call changes (scheduler, UNet, its flags) is set on the copy; modules and processors shared
    derived = shared.__dict__.setdefault(DERIVED, {})  # freed with the shared pipeline when the cache drops it
    if pipeline_class not in derived:
        derived[pipeline_class] = pipeline_class.from_pipe(shared)
        derived[pipeline_class].set_progress_bar_config(disable=True)
    pipeline = copy.copy(derived[pipeline_class])
    pipeline.scheduler = make_scheduler(scheduler, shared.scheduler.config)
    # its calls run together with other requests' (batching.py), through the UNet's graph where it has one
    pipeline.unet = batching.batched(accelerated.of(shared.unet), recorder)
    return pipeline


def seeded_generators(seed: int, batch_size: int) -> list[torch.Generator]:
    """Image i of a batch is drawn with seed + i, so that any image of a grid can be made again alone."""
    return [torch.Generator().manual_seed(seed + index) for index in range(batch_size)]


def generate_steps(
    model: str = DEFAULT_MODEL,
    prompt: str = "",
    negative_prompt: str = "",
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
    scheduler: str = DEFAULT_SCHEDULER,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = 1,
    with_word_maps: bool = False,
) -> Iterator[LatentFrame]:
    """Draw `batch_size` images of `prompt`, yielding a frame after every denoising step; `with_word_maps`: each a
    `WordMapFrame`, with where each word of the prompt looks in the first image (engine/word_maps.py)."""
    recorder = None
    if with_word_maps:
        tokenizer = load_pipeline(model, PIPELINE_CLASSES).tokenizer
        # diffusers' rule for classifier-free guidance: a scale above 1, on a UNet not distilled for guidance
        guided = guidance_scale > 1 and load_pipeline(model, PIPELINE_CLASSES).unet.config.time_cond_proj_dim is None
        recorder = word_maps.WordMapRecorder(word_maps.prompt_words(tokenizer, prompt), guided)
    pipeline = request_pipeline(model, scheduler, recorder=recorder)
    check_settings(steps, max_steps(scheduler, pipeline.scheduler.config), guidance_scale, seed, batch_size)
    frames = stream_prompt(pipeline, prompt, negative_prompt, guidance_scale, steps, seed, batch_size)
    return word_maps.with_maps(frames, recorder) if recorder else frames


def stream_prompt(
    pipeline: DiffusionPipeline,
    prompt: str,
    negative_prompt: str,
    guidance_scale: float,
    steps: int,
    seed: int,
    batch_size: int,
    **call: object,
) -> Iterator[LatentFrame]:
    """`pipeline` called with a prompt, guidance and the seeds of a batch (and `call`: an img2img's image), streamed."""
    return stream_pipeline(
        pipeline,
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        guidance_scale=guidance_scale,
        num_inference_steps=steps,
        num_images_per_prompt=batch_size,
        generator=seeded_generators(seed, batch_size),
        **call,
    )


def generate(**settings) -> LatentFrame:
    """Run `generate_steps(**settings)` to its end; the last frame's `predicted_original` holds the images."""
    return deque(generate_steps(**settings), maxlen=1)[0]
