"""AUTOMATIC1111's `parameters` text (its "infotext"), read and written in linear time, whatever a stranger sends.

    pairs = parameter_pairs("Steps: 20, Sampler: Euler a, CFG scale: 7")  # [("Steps", "20"), ...]
    parsed = parse_parameters(text)  # {"Prompt": ..., "Negative prompt": ..., "Steps": "20", ...}

The format is A1111's (`create_infotext` in its modules/processing.py, read by `parse_generation_parameters` in
modules/infotext_utils.py): the prompt, a "Negative prompt: ..." line if there is one, then one line of
`Label: value` pairs joined by ", ". A value holding a comma, colon or line break is written as a JSON string
(A1111's `quote`). Which labels mean which settings of this app is `png_info`'s business.
"""

from __future__ import annotations

import json

# What is parsed of a `parameters` text, at most (A1111's own are a few hundred characters); the rest is left
# out with a notice. The parser is linear in any case (`parameter_pairs`): this bounds the work and the echo.
MAX_PARAMETERS_CHARACTERS = 20_000


def is_label_character(character: str) -> bool:
    return character.isalnum() or character in "_ -/"


def parameter_pairs(line: str) -> list[tuple[str, str]]:
    """The (label, value) pairs of A1111's parameters line, as its pattern `re_param_code` finds them,
    `\\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)`, but in one pass: that pattern backtracks over
    every start of a long label-like run, quadratic in a line without a colon (an hour for 1 MB).

    A match ends its label at the first colon after its start (a label holds no colon), so each colon is met once:
    its label is the longest run of label characters (word characters, space, "-" and "/") before it, from that
    run's first word character, of two characters or more. The value is a JSON string up to its closing quote if
    a comma or the end follows it, else everything up to the next comma."""
    pairs, position, length = [], 0, len(line)
    while (colon := line.find(":", position)) >= 0:
        start = colon
        while start > position and is_label_character(line[start - 1]):
            start -= 1
        while start < colon and not (line[start].isalnum() or line[start] == "_"):
            start += 1
        if colon - start < 2:  # no label ends at this colon: look for the next one
            position = colon + 1
            continue
        value_start = colon + 1
        while value_start < length and line[value_start].isspace():
            value_start += 1
        value_end = quoted_end(line, value_start)
        if value_end is None or (value_end < length and line[value_end] != ","):
            comma = line.find(",", value_start)
            value_end = length if comma < 0 else comma
        pairs.append((line[start:colon], line[value_start:value_end]))
        position = value_end + 1
    return pairs


def quoted_end(line: str, start: int) -> int | None:
    """Where a JSON string starting at `start` ends (after its closing quote); None if none starts or it never ends."""
    if start >= len(line) or line[start] != '"':
        return None
    position = start + 1
    while position < len(line):
        if line[position] == "\\":
            position += 2
        elif line[position] == '"':
            return position + 1 if position > start + 1 else None  # `"(...)+"`: at least one character inside
        else:
            position += 1
    return None


def quote(text: str) -> str:
    """A1111's `quote`, also for text its reader would change: a leading quote, leading or trailing spaces."""
    if any(mark in text for mark in ",:\n") or text.startswith('"') or text != text.strip():
        return json.dumps(text, ensure_ascii=False)
    return text


def unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_parameters(text: str) -> dict[str, str]:
    """A1111's text as {label: value} with "Prompt" and "Negative prompt", as A1111 reads it: the last line
    holds the parameters if it has at least three; lines are stripped; values are kept as text, any tool's labels."""
    *lines, last_line = text.strip().split("\n")
    pairs = parameter_pairs(last_line)
    if len(pairs) < 3:
        lines.append(last_line)
        pairs = []
    prompt, negative_prompt, in_negative_prompt = "", "", False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative_prompt = True
            line = line[len("Negative prompt:") :].strip()
        if in_negative_prompt:
            negative_prompt += ("\n" if negative_prompt else "") + line
        else:
            prompt += ("\n" if prompt else "") + line
    parsed = {"Prompt": prompt, "Negative prompt": negative_prompt}
    for label, value in pairs:
        parsed[label] = unquote(value)
    return parsed
