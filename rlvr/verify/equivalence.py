r"""Symbolic equivalence of an answer with its gold, by math-verify: bounded, and the same verdict every time.

Model text only ever reaches math-verify's own parser (never `eval` or `sympify`), and only after a length cap
and a cheap refusal of what no time limit makes safe (`too_costly`). The time limit (`rlvr.verify.deadline`,
on the calling thread's CPU time, math-verify's own single-alarm timeouts off) sits several times above
what any published equivalence case costs once warm (docs/rewards.md): a safety net for what those bounds
miss, not a judge of ordinary answers, so a verdict does not depend on the machine's load. Two more things
kept verdicts from repeating, and are fixed here: sympy imports and builds much of itself on first use (a
first summation costs several times the next), so each process warms math-verify up once, untimed, on
fixed expressions (`_WARM_UP`) before it times anything; and a gold whose reading ran out of time is not
remembered as unverifiable (only finished readings are cached).

Signal timers work only on the main thread of a process; a call made from another thread hands the work to
a helper process, whose main thread keeps the same limits.
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
# wrong); one call (reading the gold where it is not cached yet, reading the guess, comparing) stops
# after LIMIT_S of the calling thread's CPU time: cut off while reading the gold, the gold is
# unverifiable for this call only; later, the guess is wrong. docs/rewards.md has what ordinary answers
# cost against it.
MAX_VERIFIED_CHARS = 300
LIMIT_S = 0.9
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
    expression, prose, too long, or its reading ran past LIMIT_S). A missing, over-long or too costly
    guess, or one whose check runs past LIMIT_S, is not equivalent.

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
    if not _gold_fits(gold):
        return None
    reading_the_gold = True

    def check() -> bool | None:
        nonlocal reading_the_gold
        gold_parsed = _finished_gold_reading(gold)
        reading_the_gold = False
        if not gold_parsed:
            return None
        if guess is None or len(guess) > MAX_VERIFIED_CHARS or too_costly(guess):
            return False
        return _equivalent(gold_parsed, guess)

    try:
        return within(LIMIT_S, check)
    except OutOfTime:
        return None if reading_the_gold else False


def _equivalent(gold_parsed: tuple[object, ...], guess: str) -> bool:
    return verify(list(gold_parsed), _reading(guess), timeout_seconds=None)


def _gold_is_verifiable(answer: str) -> bool:
    return bool(_parsed_gold(answer))


def _parsed_gold(gold: str) -> tuple[object, ...]:
    """The gold as math-verify reads it (sympy objects, then the matched text); empty if it holds no
    expression, or if it is prose: a word answer (`seven`, `yes`, `N/A`, `5 apples`) is no gold to
    compare with, even where math-verify would read the letters of `seven` as a product of symbols or
    the number of `5 apples`; empty too when reading it ran past LIMIT_S (and then not cached)."""
    if not _gold_fits(gold):
        return ()
    try:
        return within(LIMIT_S, _finished_gold_reading, gold)
    except OutOfTime:
        return ()


def _gold_fits(gold: str) -> bool:
    """Whether a gold is worth reading: short, not too costly, and no prose (`_parsed_gold`)."""
    if len(gold) > MAX_VERIFIED_CHARS or too_costly(gold):
        return False
    return bool(_MATH_DELIMITERS.search(gold)) or not _is_prose(gold)


@functools.lru_cache(maxsize=4096)
def _finished_gold_reading(gold: str) -> tuple[object, ...]:
    """A fitting gold's reading, cached once it finishes (an OutOfTime passes through the cache and leaves
    nothing in it): every completion of a group is checked against the same gold."""
    parsed = _reading(gold)
    if all(isinstance(item, str) for item in parsed):  # nothing but the raw-text fallback
        return ()
    return tuple(parsed)


# One pair per kind of answer whose first check makes sympy import or build something (numbers, fractions,
# roots, percentages, sets, intervals, inequalities, equations, systems, sums, matrices, trigonometry,
# logarithms, text and units): each process checks them once, untimed, when it imports this module
# (`_warm_up`), so that no verdict depends on what the process happened to check before, and no call
# pays for the warm-up.
_WARM_UP = (
    ("42", "The answer is 42"),
    (r"\frac{3}{4}", "0.75"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"28\%", "0.28"),
    (r"\{1, 2\}", r"\{2, 1\}"),
    (r"(-\infty, 3] \cup (4, 5)", r"x \leq 3"),
    (r"1 \leq |z| \leq \frac{3}{2}", r"z \in [1, \frac{3}{2}]"),
    (r"2x + 4y - 3 = 0", r"y = -\frac{1}{2}x + \frac{3}{4}"),
    (r"x = 1, y = 2", r"(1, 2)"),
    (r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}"),
    (
        r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}",
        r"\left[\begin{array}{cc}1 & 2 \\ 3 & 4\end{array}\right]",
    ),  # noqa: E501
    (r"\sin^2 x + \cos^2 x", "1"),
    (r"\log_2 8 + e^{i\pi}", "2"),
    (r"\int_0^1 x \, dx", r"\frac{1}{2}"),
    (r"15 \text{ cm}^2", r"15"),
    (r"90^\circ", r"\frac{\pi}{2}"),
)


def _warm_up() -> None:
    """Check `_WARM_UP`, untimed (constant texts, each well within the limit once warm)."""
    for gold, guess in _WARM_UP:
        verify(_reading(gold), _reading(guess), timeout_seconds=None)


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


_warm_up()
