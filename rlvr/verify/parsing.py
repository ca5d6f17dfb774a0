"""Reading completions: their text, their solution section, and the numbers in them.

The rewards score raw model output, so every function here takes any string (100 KB of noise included)
and answers quickly without raising. Numbers are read with one regular expression whose every branch
is decided by the next character or two, so a search is linear in the length of the text; values are
built with `float()` (never `int()`, which refuses more than 4300 digits, and never `eval`).
"""

from __future__ import annotations

import math
import re

from rlvr.config.schema import Markers

# An unsigned decimal: `1,234` or `1 234` (groups of exactly three digits, split by commas or by single
# spaces, as math-verify reads `1 000`), `1234`, `3.25` or `.5`, with an optional exponent (`2.5e3`).
# Exponents are read so that `1e999999` is seen as too large (and rejected) instead of being read as 1.
_GROUPS = r"[0-9]{1,3}(?:(?:,[0-9]{3})+|(?:[ \u00a0\u2009\u202f][0-9]{3})+)(?![0-9])"
_UNSIGNED = rf"(?:(?:{_GROUPS}|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUMBER = re.compile(rf"(?P<sign>[-+\u2212])?(?P<numerator>{_UNSIGNED})(?:/(?P<denominator>{_UNSIGNED}))?")
# The notebook's number (`match_numbers`' group): an optional minus and a run of digits, periods, commas.
_NOTEBOOK_NUMBER = re.compile(r"-?[\d.,]+")


def completion_text(completion: object) -> str:
    """The text of a completion: a plain string, or TRL's conversational form (a list of messages).

    In the conversational form the reply is the run of assistant messages after the last message of
    another role (a tool result, say), so that text the model read is not scored as text it wrote.
    Anything malformed reads as "" rather than raising, since one odd row must not stop training.

    >>> completion_text([{"role": "assistant", "content": "42"}])
    '42'
    >>> completion_text(None)
    ''
    """
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list):
        return ""
    reply: list[str] = []
    for message in completion:
        if not isinstance(message, dict):
            continue
        if message.get("role") != "assistant":
            reply = []
        elif isinstance(message.get("content"), str):
            reply.append(message["content"])
    return "".join(reply)


def solution_section(text: str, markers: Markers) -> str | None:
    """The stripped text of the last complete solution section, or None if there is none.

    The last one counts because a model that restates its answer commits to the final statement; an
    opening marker left unclosed after it is ignored, and an opening marker repeated before the closing
    one counts from its last occurrence.

    >>> solution_section("<SOLUTION> 7 </SOLUTION> no, <SOLUTION>8</SOLUTION>", Markers())
    '8'
    """
    end = text.rfind(markers.solution_end)
    if end == -1:
        return None
    start = text.rfind(markers.solution_start, 0, end)
    if start == -1:
        return None
    return text[start + len(markers.solution_start) : end].strip()


def notebook_solution(text: str, markers: Markers) -> str | None:
    """The solution section as Unsloth's Qwen3 GRPO notebook reads it (`match_format` there), or None.

    The notebook's regular expression (`reasoning_end .*? solution_start (.+?) solution_end \\s* $`,
    multi-line, dot-all, searched anywhere) accepts any text before the reasoning end and between the
    sections, and only whitespace after the solution end up to a line's end: text on a later line is
    allowed. Its capture is not stripped. Read here with string searches, in linear time, where the
    expression would backtrack over every pair of markers (the notebook's optional end-of-text token after
    the section never reaches rlvr's rewards: TRL decodes completions without special tokens).

    >>> notebook_solution("x<end_working_out> so <SOLUTION> 42 </SOLUTION>\\nDone.", Markers())
    ' 42 '
    >>> notebook_solution("<end_working_out><SOLUTION>42</SOLUTION> Done.", Markers()) is None
    True
    """
    opening = text.find(markers.reasoning_end)
    if opening == -1:
        return None
    start = text.find(markers.solution_start, opening + len(markers.reasoning_end))
    if start == -1:
        return None
    start += len(markers.solution_start)
    end = text.find(markers.solution_end, start + 1)  # the capture holds one character at least
    while end != -1 and not _ends_a_line(text, end + len(markers.solution_end)):
        end = text.find(markers.solution_end, end + 1)
    return None if end == -1 else text[start:end]


def notebook_number(text: str, markers: Markers) -> str | None:
    """The first run of digits, periods and commas (with a minus sign in front) after the first solution
    start, as the notebook's `match_numbers` finds it, closed section or not; None when there is none.

    >>> notebook_number("<SOLUTION> x = -1,234.5", Markers()), notebook_number("<SOLUTION>", Markers())
    ('-1,234.5', None)
    """
    start = text.find(markers.solution_start)
    if start == -1:
        return None
    match = _NOTEBOOK_NUMBER.search(text, start + len(markers.solution_start))
    return None if match is None else match.group()


def _ends_a_line(text: str, position: int) -> bool:
    """Whether only whitespace follows `position` up to a line break or the end of the text (what the
    notebook's `\\s*$` accepts in multi-line mode)."""
    while position < len(text) and text[position].isspace():
        if text[position] == "\n":
            return True
        position += 1
    return position == len(text)


def first_number(text: str) -> float | None:
    """The value of the first number in a text, or None if there is none or it is not finite.

    Reads signs (`-`, `+`, the unicode minus), thousands commas, decimals, exponents and simple
    fractions (`3/4`, `-1/2`); only ASCII digits count. A sign must touch the digits (`x - 3` gives 3).

    >>> first_number("about -1,234.5 apples")
    -1234.5
    >>> first_number("3/4 of them"), first_number("1e999999"), first_number("none")
    (0.75, None, None)
    """
    match = _NUMBER.search(text)
    return None if match is None else _value(match)


def as_number(text: str) -> float | None:
    """The value of a text that is one number and nothing else (around whitespace, and a period that
    ends it as a sentence), else None.

    Same grammar as `first_number`; golds go through this so that `x+1` or `\\frac{3}{4}` are not
    mistaken for the numbers 1 or 3.

    >>> as_number(" 1,234 "), as_number("1 000"), as_number("5."), as_number("42 apples")
    (1234.0, 1000.0, 5.0, None)
    """
    match = _NUMBER.fullmatch(text.strip().removesuffix("."))
    return None if match is None else _value(match)


def without_whitespace(text: str) -> str:
    """The text with every (unicode) whitespace character removed, for a layout-blind comparison.

    >>> without_whitespace(" 1 / 2 ")
    '1/2'
    """
    return "".join(text.split())


def _ungrouped(number: str) -> str:
    return "".join(c for c in number if c not in ", \u00a0\u2009\u202f")


def _value(match: re.Match[str]) -> float | None:
    value = float(_ungrouped(match["numerator"]))
    if match["denominator"] is not None:
        denominator = float(_ungrouped(match["denominator"]))
        if denominator == 0:
            return None
        value /= denominator
    if match["sign"] in ("-", "\u2212"):
        value = -value
    return value if math.isfinite(value) else None
