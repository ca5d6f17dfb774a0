r"""Symbolic equivalence of an answer with its gold, by math-verify, under a time limit that holds.

Model text only ever reaches math-verify's own parser (never `eval` or `sympify`), and only after a length cap
and a cheap refusal of what no time limit makes safe (`too_costly`). Its work is bounded by
`rlvr.verify.deadline` (math-verify's own single-alarm timeouts are off: an exception that lands in a
garbage-collection callback is dropped, and the work runs on). Signal timers work only on the main thread of a
process; a call made from another thread hands the work to a helper process, whose main thread keeps the same
limits.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import re
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rlvr.verify.deadline import OutOfTime, within

# Limits on the symbolic check: longer texts are not parsed (a gold is then unverifiable, a guess
# wrong); reading a gold stops after GOLD_LIMIT_S (the gold is then unverifiable), and reading and
# comparing a guess after GUESS_LIMIT_S (the guess is then wrong).
MAX_VERIFIED_CHARS = 300
GOLD_LIMIT_S = 0.4
GUESS_LIMIT_S = 0.4
# What no time limit makes cheap, refused before any symbolic work (`too_costly`): sympy would try to
# evaluate or expand these (a power tower, `(x+1)^{1000}`, `100000!`), and a few in a GRPO step would
# each cost the whole limit.
MAX_EXPONENT_DIGITS = 3
MAX_FACTORIAL_DIGITS = 4
MAX_NESTING = 12

_EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())


def _not_the_timeouts_off_warning(record: logging.LogRecord) -> bool:
    """math-verify warns once that, with its timeouts off, the caller must bound the work: `within` does."""
    return not record.getMessage().startswith("Timeout is disabled")


for _module in ("grader", "parser"):
    logging.getLogger(f"math_verify.{_module}").addFilter(_not_the_timeouts_off_warning)

# How answer texts are handed to math-verify (`_reading`, `_is_prose`).
_MATH_DELIMITERS = re.compile(r"\$|\\\(|\\\[|\\boxed")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+(?:\s*\{[^{}]*\})?")
_WORD = re.compile(r"[A-Za-z]{3,}|\b[A-Z]/[A-Z]\b")
_PLAIN_NUMBER = re.compile(r"[0-9\s.,%+\-/]+")
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_EXPONENT_DIGITS + 1},}}")
_HUGE_FACTORIAL = re.compile(rf"[0-9]{{{MAX_FACTORIAL_DIGITS + 1},}}\s*!")
_PLAIN_EXPONENT = re.compile(r"[-+]?[0-9A-Za-z.^!]*")
_T = TypeVar("_T")


def gold_is_verifiable(answer: str) -> bool:
    r"""Whether math-verify reads the gold answer as at least one expression, and it is no word answer
    (rows that fail are dropped).

    >>> gold_is_verifiable(r"\frac{3}{4}"), gold_is_verifiable(""), gold_is_verifiable("5 apples")
    (True, False, False)
    """
    return _on_a_main_thread(_gold_is_verifiable, answer)


def equivalent(guess: str | None, gold: str) -> bool | None:
    r"""Whether math-verify finds `guess` equivalent to `gold`; None when the gold cannot be read (no
    expression, prose, too long). A missing, over-long or too costly guess, or one whose check runs
    past GUESS_LIMIT_S, is not equivalent.

    >>> equivalent(r"\frac{3}{4}", "0.75"), equivalent("0.7", "0.75"), equivalent("1", "seven")
    (True, False, None)
    """
    return _on_a_main_thread(_equivalent_here, guess, gold)


def too_costly(text: str) -> bool:
    r"""Whether a text asks sympy for work no time limit makes cheap: a power tower (an exponent holding
    an exponent), an exponent or a factorial of a huge number, or brackets nested deeper than MAX_NESTING.
    Only texts of at most MAX_VERIFIED_CHARS reach it, so its plain scans cost microseconds.

    >>> [too_costly(t) for t in ("9^{9^{9^{9}}}", "10^{10^{10}}", "(x+1)^{1000}", "2**3**4", "123456!")]
    [True, True, True, True, True]
    >>> [too_costly(t) for t in (r"2^{10}", r"\frac{3}{4}", "x^2 + 1", "5!", r"\{1, 2\}", "10^{-3}")]
    [False, False, False, False, False, False]
    """
    depth = deepest = 0
    for char in text:
        if char in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")}]":
            depth -= 1
    if deepest > MAX_NESTING:
        return True
    if _HUGE_FACTORIAL.search(text):
        return True
    normalized = text.replace("**", "^")
    for exponent in _exponents(normalized):
        if "^" in exponent or "!" in exponent or _LONG_NUMBER.search(exponent):
            return True
    return False


def _exponents(text: str) -> list[str]:
    """The exponent after each `^`: a braced or bracketed group (balanced), else the next run of digits,
    letters, `.` and `^` (so `2^3^4`'s first exponent is `3^4`)."""
    found = []
    for index, char in enumerate(text):
        if char != "^":
            continue
        rest = text[index + 1 :].lstrip()
        if rest[:1] in ("{", "("):
            close = {"{": "}", "(": ")"}[rest[0]]
            depth = 0
            end = len(rest)
            for position, inner in enumerate(rest):
                depth += inner == rest[0]
                depth -= inner == close
                if depth == 0:
                    end = position
                    break
            found.append(rest[1:end])
        else:
            match = _PLAIN_EXPONENT.match(rest)
            found.append(match.group(0) if match else "")
    return found


def _equivalent_here(guess: str | None, gold: str) -> bool | None:
    gold_parsed = _parsed_gold(gold)
    if not gold_parsed:
        return None
    if guess is None or len(guess) > MAX_VERIFIED_CHARS or too_costly(guess):
        return False
    try:
        return within(GUESS_LIMIT_S, _equivalent, gold_parsed, guess)
    except OutOfTime:
        return False


def _equivalent(gold_parsed: tuple[object, ...], guess: str) -> bool:
    return verify(list(gold_parsed), _reading(guess), timeout_seconds=None)


def _gold_is_verifiable(answer: str) -> bool:
    return bool(_parsed_gold(answer))


@functools.lru_cache(maxsize=4096)
def _parsed_gold(gold: str) -> tuple[object, ...]:
    """The gold as math-verify reads it (sympy objects, then the matched text); empty if it holds no
    expression, or if it is prose: a word answer (`seven`, `yes`, `N/A`, `5 apples`) is no gold to
    compare with, even where math-verify would read the letters of `seven` as a product of symbols or
    the number of `5 apples`. Cached: every completion of a group is checked against the same gold."""
    if len(gold) > MAX_VERIFIED_CHARS or too_costly(gold):
        return ()
    if not _MATH_DELIMITERS.search(gold) and _is_prose(gold):
        return ()
    try:
        parsed = within(GOLD_LIMIT_S, _reading, gold)
    except OutOfTime:
        return ()
    if all(isinstance(item, str) for item in parsed):  # nothing but the raw-text fallback
        return ()
    return tuple(parsed)


def _reading(text: str) -> list:
    r"""math-verify's reading of an answer: the expressions it extracts, then the text it matched.

    math-verify reads answers out of free text: the math between `$`, `\(` or `\[` or in `\boxed{}`,
    and numbers in plain words (`1 000`, `1000,99`, `28 percent`, `The answer is 42`). A text that
    brings its own delimiters, or prose, is handed to it as it is. A bare formula, the usual gold and
    solution section (`\frac{3}{4}`, `x + 1`, `[1, 2)`), would lose its meaning as free text (math-verify
    would read `x + 1` for its number, 1): it is handed over as the LaTeX it is, between `$`. Except a
    plain number that math-verify reads whole as free text, every digit of it, since in LaTeX the space
    of `1 000` and the comma of `1000,99` separate numbers.
    """
    if _MATH_DELIMITERS.search(text) or _is_prose(text):
        return parse(text, extraction_config=_EXTRACTION, parsing_timeout=None)
    if _PLAIN_NUMBER.fullmatch(text):
        plain = parse(text, extraction_config=_EXTRACTION, parsing_timeout=None)
        if plain and _digits(plain[-1]) == _digits(text):
            return plain
    return parse(f"${text}$", extraction_config=_EXTRACTION, parsing_timeout=None)


def _is_prose(text: str) -> bool:
    r"""Whether a text holds a word: three letters or more in a row outside the LaTeX commands and their
    first argument (`\sqrt`, `\text{ cm}`), or an abbreviation like N/A. Two letters are not enough
    to tell a word from a product (`xy`, `ab`).

    >>> [_is_prose(text) for text in ("5 apples", "N/A", r"2xy + \sqrt{3}", r"15 \text{ minutes}")]
    [True, True, False, False]
    """
    return _WORD.search(_LATEX_COMMAND.sub(" ", text)) is not None


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _on_a_main_thread(function: Callable[..., _T], *args: object) -> _T:
    """Run `function` here on the main thread, else on the helper process's main thread.

    Off the main thread math-verify's timeouts raise; turning them off is no option, since a guess of
    13 characters (`9^{9^{9^{9}}}`) keeps sympy busy for minutes. The helper process starts on first
    use (a second or two, importing sympy) and serves all threads, one call at a time.
    """
    if threading.current_thread() is threading.main_thread():
        return function(*args)
    return _helper_process().submit(function, *args).result()


@functools.cache
def _helper_process() -> ProcessPoolExecutor:
    # "spawn": forking a process that runs threads can copy a lock another thread holds.
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
