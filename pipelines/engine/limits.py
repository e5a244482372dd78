"""The serving limits, in one place, enforced on the server (the API bypasses the sliders).

Each can be set by an environment variable of the same name prefixed `DIFFUSION_PLAYGROUND_`
(e.g. `DIFFUSION_PLAYGROUND_MAX_QUEUE=200` for a large class). docs/serving.md says how to choose them.
"""

from __future__ import annotations

import os


def _setting(name: str, default: float) -> float:
    value = os.environ.get(f"DIFFUSION_PLAYGROUND_{name}")
    return float(value) if value else default


MAX_QUEUE = int(_setting("MAX_QUEUE", 100))  # requests waiting at once; one more is told the queue is full
# Runs of one tab going at once. They take turns on the one torch thread (pipelines/engine/torch_thread.py), so more
# runs at once means everyone sees frames soon, each run a little slower; the whole is no slower.
CONCURRENT_RUNS = int(_setting("CONCURRENT_RUNS", 32))
# Streamed updates a second, all runs going together (stream.stream_frames' Throttle): each costs the web server
# ~5 ms of CPU (two PNGs at 2.4-3.3 ms each in a one-off timing of gr.Image; its file cache; the stream), so 30 a
# second take ~15 % of a core, where 10 a second for each of 30 runs would take the whole machine (docs/serving.md).
STREAMED_UPDATES_PER_SECOND = _setting("STREAMED_UPDATES_PER_SECOND", 30)
RUN_SECONDS = _setting("RUN_SECONDS", 300)  # a run is stopped after this long, with what it drew kept for replay
MAX_FILE_SIZE = os.environ.get("DIFFUSION_PLAYGROUND_MAX_FILE_SIZE", "10mb")  # uploads, checked by Gradio
# Pixels of an uploaded image, read from its header before anything is decoded: a 10 MB file can hold a
# 100+ megapixel image (a 121 Mpx black PNG is a few hundred kB) that decodes to gigabytes. 25 Mpx decode to 75 MB
# of RGB; no tab uses more than ~0.1 Mpx, so larger images only cost memory before they are reduced.
MAX_IMAGE_PIXELS = int(_setting("MAX_IMAGE_PIXELS", 25_000_000))
MAX_PROMPT_CHARACTERS = int(_setting("MAX_PROMPT_CHARACTERS", 300))  # longer prompts are cut, with a notice
SHOWN_PROMPT_CHARACTERS = 80  # a prompt quoted in a status line is shortened to this
# Every visitor's replay frames together (ui/replays.py): past this, the least recently used runs' go first.
REPLAY_MEMORY_BYTES = int(_setting("REPLAY_MEMORY_MB", 1024) * 2**20)
# Visitors' sessions Gradio keeps (their gr.State: replay tickets; their components' configs after an event), least
# recently used dropped first. A session holds ~0.1 MB per tab it ran (its changed components and their configs,
# measured by tests/test_sessions.py): Gradio's default of 10,000 sessions let the soak's RSS grow with every new
# visitor. A dropped session's visitor is served on as new (their replay slider asks them to generate first).
MAX_SESSIONS = int(_setting("MAX_SESSIONS", 500))
SESSION_BYTES = 500_000  # the most a session may hold in Python objects after runs of two tabs (test: 220-334 kB)
# Gradio's cache of served files (results, uploads): every hour, files older than an hour are deleted.
DELETE_CACHE = (3600, 3600)


def limit_allocator_arenas(arenas: int = 2) -> bool:
    """Ask glibc's malloc for at most `arenas` arenas (mallopt M_ARENA_MAX) before the server's threads start.

    Each thread that allocates gets its own arena, up to 8 per core, and freed memory stays in the arena it came from:
    Gradio's worker threads, the event loop and the torch thread each grew one (docs/serving.md, "The allocator").
    False where the C library is not glibc (nothing is changed)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX is -8 in glibc's malloc.h
    except (OSError, AttributeError):
        return False


def cut_prompt(prompt: object, name: str = "prompt") -> tuple[str, list[str]]:
    """`prompt` as a string of at most MAX_PROMPT_CHARACTERS characters, with a notice if it was cut."""
    if prompt is None:
        return "", []
    if not isinstance(prompt, str):
        raise ValueError(f"The {name} must be text.")
    if len(prompt) <= MAX_PROMPT_CHARACTERS:
        return prompt, []
    notice = f"The {name} had {len(prompt):,} characters; only its first {MAX_PROMPT_CHARACTERS} were used."
    return prompt[:MAX_PROMPT_CHARACTERS], [notice]


def shown(prompt: str) -> str:
    """A prompt as quoted in a status line: never echoed whole when long."""
    limit = SHOWN_PROMPT_CHARACTERS
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
