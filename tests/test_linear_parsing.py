"""Every parser of a visitor's text runs in linear time: adversarial inputs of doubling length (to 1M characters)
take time proportional to their length, and the parameters reader finds what A1111's own pattern finds."""

from __future__ import annotations

import contextlib
import gc
import random
import re
import time
from collections.abc import Callable

import numpy as np
import pytest

from pipelines import grids
from pipelines.engine import limits
from pipelines.keepsakes.a1111_text import parameter_pairs, parse_parameters

# A1111's `re_param_code` (modules/infotext_utils.py): the reference for what is found, quadratic on some lines.
A1111_PARAMETER = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
ADVERSARIAL = {  # a piece, repeated to the length asked for
    "one long word": "a",
    "many colons": "a:",
    "label-like runs": "ab - cd/ef ",
    "many quotes": 'Steps: "a\\"',
    "unterminated quotes": 'x: "',
    "many commas": ",",
    "pairs": "Steps: 20, ",
}


def test_the_parameters_reader_finds_what_a1111s_pattern_finds() -> None:
    alphabet = ["a", "B", "7", "_", " ", "-", "/", ":", ",", '"', "\\", "\t", "é", ".", "\u00a0"]
    rng = random.Random(0)
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert parameter_pairs(line) == A1111_PARAMETER.findall(line), line
    written = 'Steps: 20, Sampler: DPM++ 2M, CFG scale: 5, Seed: 1, Model: "a, b: c", Size: 32x32'
    assert parameter_pairs(written) == A1111_PARAMETER.findall(written)


def best_seconds(parse: Callable[[str], object], text: str, repeats: int = 5) -> float:
    """The best of a few timings, the garbage collector paused (its passes over many new tuples are not the
    parser's work)."""
    best = float("inf")
    for _ in range(repeats):
        gc.disable()
        try:
            started = time.perf_counter()
            parse(text)
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best


def assert_linear(parse: Callable[[str], object], piece: str) -> None:
    """Inputs of 1k to 1M characters, doubling: the slope of log(time) over log(length), fitted on the sizes from
    64k up (where timer noise is small), is about 1 for a linear parser and 2 for a quadratic one (A1111's
    pattern: 2.1)."""
    sizes = [1_000 * 2**power for power in range(11)]  # 1k ... 1M
    seconds = {size: best_seconds(parse, (piece * (size // len(piece) + 1))[:size]) for size in sizes}
    fitted = [size for size in sizes if size >= 64_000]
    slope = np.polyfit(np.log(fitted), np.log([max(seconds[size], 1e-6) for size in fitted]), 1)[0]
    assert slope < 1.5, (slope, {size: f"{value:.4f}" for size, value in seconds.items()})


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_the_parameters_reader_is_linear(name: str) -> None:
    assert_linear(parse_parameters, ADVERSARIAL[name])
    assert_linear(lambda text: parse_parameters("a prompt\n" + text), ADVERSARIAL[name])


def test_a_one_line_megabyte_is_read_within_a_second() -> None:
    """The PNG that held a core for an hour: a 1 MB `parameters` line without a colon."""
    started = time.perf_counter()
    parsed = parse_parameters("a" * 1_000_000)
    assert time.perf_counter() - started < 1.0 and len(parsed["Prompt"]) == 1_000_000


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_the_grid_lists_and_prompts_are_refused_or_cut_in_linear_time(name: str) -> None:
    def parse_lists(text: str) -> None:
        for parse in (grids.parse_scales, grids.parse_samplers):
            with contextlib.suppress(ValueError):
                parse(text)
        limits.cut_prompt(text)

    assert_linear(parse_lists, ADVERSARIAL[name])
