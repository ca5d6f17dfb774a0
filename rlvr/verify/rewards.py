r"""The verifiable rewards GRPO trains on: two for the answer format, three for the answer itself.

Each reward is a small class built with the `Markers`, called the way TRL's GRPOTrainer calls reward
functions: `reward(completions=..., answer=..., prompts=..., trainer_state=..., **other_columns)`,
returning one score per completion (None: the row does not count). Plain strings work as completions,
so `reward(["..."], answer=["42"])` works outside the trainer too. TRL names a reward (in its logs) by
`reward.__name__`, hence the class attribute. Scores and weights are documented in docs/rewards.md.

Model text only ever reaches math-verify's own parser (never `eval` or `sympify`), and only after a
length cap. Its work is bounded by `rlvr.verify.deadline` (math-verify's own single-alarm timeouts are off:
an exception that lands in a garbage-collection callback is dropped, and the work runs on). Signal
timers work only on the main thread of a process; a reward called from another thread hands that
work to a helper process, whose main thread keeps the same limits.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import multiprocessing
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rlvr.data import gym as gym_tasks
from rlvr.data.prompts import Markers
from rlvr.errors import RlvrError
from rlvr.verify.deadline import OutOfTime, within
from rlvr.verify.parsing import as_number, completion_text, first_number, solution_section, without_whitespace

# Scores (the table in docs/rewards.md).
FORMAT_EXACT = 3.0
MARKER_ONCE = 0.5
MARKER_MISSING_OR_REPEATED = -1.0
ANSWER_EXACT = 5.0
ANSWER_EXACT_IGNORING_WHITESPACE = 3.5
ANSWER_WITHIN_10_PERCENT = 2.0
ANSWER_WITHIN_20_PERCENT = 1.5
ANSWER_WRONG = -2.5
NUMBER_EQUAL = 3.5
NUMBER_DIFFERENT = -1.5
ACCURATE = 2.0
NO_SCORE = 0.0

# Limits on the symbolic check: longer texts are not parsed (a gold is then unverifiable, a guess
# wrong); reading a gold stops after GOLD_LIMIT_S (the gold is then unverifiable), and reading and
# comparing a guess after GUESS_LIMIT_S (the guess is then wrong).
MAX_VERIFIED_CHARS = 300
GOLD_LIMIT_S = 1.0
GUESS_LIMIT_S = 3.0

DEFAULT_MARKERS = Markers()
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
_T = TypeVar("_T")


class _FormatReward(ABC):
    """A reward that reads only the completion's layout."""

    def __init__(self, markers: Markers = DEFAULT_MARKERS) -> None:
        self.markers = markers

    def __call__(self, completions: Sequence[object], **columns: object) -> list[float | None]:
        return [self.score(completion_text(completion)) for completion in completions]

    @abstractmethod
    def score(self, text: str) -> float | None:
        """The score of one completion's text."""


class _AnswerReward(ABC):
    """A reward that compares the completion's solution section with the gold `answer` column."""

    def __init__(self, markers: Markers = DEFAULT_MARKERS) -> None:
        self.markers = markers

    def __call__(
        self, completions: Sequence[object], answer: Sequence[str], **columns: object
    ) -> list[float | None]:
        return [
            self.score(solution_section(completion_text(completion), self.markers), gold)
            for completion, gold in zip(completions, answer, strict=True)
        ]

    @abstractmethod
    def score(self, guess: str | None, gold: str) -> float | None:
        """The score of one solution section (None: the completion has none) against its gold."""


class MatchFormatExactly(_FormatReward):
    """3.0 for exactly the taught layout, each marker once and nothing after the solution; else 0.

    Reasoning and answer must not be blank; whitespace may surround the completion and separate the
    reasoning section from the solution section. With `prefill_reasoning` the layout is read with the
    reasoning start the prompt ended with in front of the completion.

    >>> MatchFormatExactly()(["<start_working_out>6*7<end_working_out> <SOLUTION>42</SOLUTION>\\n", "42"])
    [3.0, 0.0]
    """

    __name__ = "match_format_exactly"

    def score(self, text: str) -> float:
        m = self.markers
        text = m.opened(text).strip()
        if any(text.count(marker) != 1 for marker in m.as_tuple()):
            return NO_SCORE
        head, _, tail = text.partition(m.reasoning_end)
        gap, _, solution = tail.partition(m.solution_start)
        exact = (
            head.startswith(m.reasoning_start)
            and head.removeprefix(m.reasoning_start).strip() != ""
            and gap.strip() == ""
            and solution.endswith(m.solution_end)
            and solution.removesuffix(m.solution_end).strip() != ""
        )
        return FORMAT_EXACT if exact else NO_SCORE


class MatchFormatApproximately(_FormatReward):
    """Per marker the model writes, +0.5 when it appears exactly once and -1.0 when missing or repeated:
    -4.0 to 2.0, or -3.0 to 1.5 when the prompt writes the reasoning start (`prefill_reasoning`).

    Partial credit gives the model a gradient towards the layout before it gets the whole of it.

    >>> MatchFormatApproximately()(["<start_working_out>...<end_working_out><SOLUTION>1", "no markers"])
    [0.5, -4.0]
    """

    __name__ = "match_format_approximately"

    def score(self, text: str) -> float:
        return sum(
            MARKER_ONCE if text.count(marker) == 1 else MARKER_MISSING_OR_REPEATED
            for marker in self.markers.written()
        )


class CheckAnswer(_AnswerReward):
    """Graded string match of the solution section with the gold answer.

    5.0 for the same text, 3.5 for the same text once whitespace is removed, and when both are plain numbers
    2.0 within 10% of the gold and 1.5 within 20%; -2.5 otherwise, and 0.0 without a solution section.
    Closeness is |guess - gold| <= tolerance * |gold|, so a gold of 0 needs an exact 0.

    >>> CheckAnswer()(["<SOLUTION>42</SOLUTION>", "<SOLUTION>4 2</SOLUTION>", "<SOLUTION>44</SOLUTION>",
    ...                "<SOLUTION>50</SOLUTION>", "<SOLUTION>7</SOLUTION>", "42"], answer=["42"] * 6)
    [5.0, 3.5, 2.0, 1.5, -2.5, 0.0]
    """

    __name__ = "check_answer"

    def score(self, guess: str | None, gold: str) -> float:
        if guess is None:
            return NO_SCORE
        gold = gold.strip()
        if guess == gold:
            return ANSWER_EXACT
        if without_whitespace(guess) == without_whitespace(gold):
            return ANSWER_EXACT_IGNORING_WHITESPACE
        guess_value, gold_value = as_number(guess), as_number(gold)
        if guess_value is None or gold_value is None:
            return ANSWER_WRONG
        error = abs(guess_value - gold_value)
        if error <= 0.1 * abs(gold_value):
            return ANSWER_WITHIN_10_PERCENT
        if error <= 0.2 * abs(gold_value):
            return ANSWER_WITHIN_20_PERCENT
        return ANSWER_WRONG


class CheckNumbers(_AnswerReward):
    """The first number of the solution section against the gold number: 3.5 equal, -1.5 different.

    Lenient where `check_answer` is strict: `42 apples` counts as 42. 0.0 without a solution section
    or without a number in it; None (the row does not count) when the gold is not a number.

    >>> CheckNumbers()(["<SOLUTION>1,234 apples</SOLUTION>", "<SOLUTION>-3</SOLUTION>",
    ...                 "<SOLUTION>?</SOLUTION>"], answer=["1234", "3", "3"])
    [3.5, -1.5, 0.0]
    >>> CheckNumbers()(["<SOLUTION>1</SOLUTION>"], answer=["x + 1"])
    [None]
    """

    __name__ = "check_numbers"

    def score(self, guess: str | None, gold: str) -> float | None:
        gold_value = as_number(gold)
        if gold_value is None:
            return None
        guess_value = None if guess is None else first_number(guess)
        if guess_value is None:
            return NO_SCORE
        return NUMBER_EQUAL if math.isclose(guess_value, gold_value, rel_tol=1e-9) else NUMBER_DIFFERENT


class Accuracy(_AnswerReward):
    r"""2.0 when math-verify finds the solution section equivalent to the gold, else 0.0.

    Equivalence is symbolic (`\frac{3}{4}` = `0.75`, `\{1, 2\}` = `\{2, 1\}`, intervals, expressions),
    and texts are read the way math-verify reads answers: a bare formula as LaTeX, a text with its own
    math delimiters (`Therefore $x \geq 5$.`) or in words for the math in it, `1 000` as a thousand.
    None (the row does not count) when the gold cannot be parsed; see `gold_is_verifiable`.

    >>> Accuracy()([r"<SOLUTION>\frac{3}{4}</SOLUTION>", "<SOLUTION>0.7</SOLUTION>", "3/4"],
    ...            answer=["0.75"] * 3)
    [2.0, 0.0, 0.0]
    >>> Accuracy()([r"<SOLUTION>Therefore $x \geq 5$.</SOLUTION>", "<SOLUTION>1 000</SOLUTION>"],
    ...            answer=[r"x \geq 5", "1000"])
    [2.0, 2.0]
    """

    __name__ = "accuracy"

    def score(self, guess: str | None, gold: str) -> float | None:
        return _on_a_main_thread(_accuracy, guess, gold)


class TaskScore:
    """The row's own reasoning-gym verifier on the solution section, scaled to `accuracy`'s 2.0: 2.0 right,
    the task's partial credit in between (some tasks pay for a near miss), 0.0 without a solution section
    or with one over 300 characters (never handed to the verifier). None (the row does not count) for a
    row without a task, or with a task whose verifier rlvr has not cleared (`rlvr.data.gym.SAFE_TASKS`).

    The task and its metadata reach the reward as the `task` and `task_metadata` columns of the training
    examples (`rlvr.data.prepare.to_grpo_example`). The verifiers cleared treat the text as data (string and
    regular-expression matching, Decimal(), int()), so the length cap bounds their time.

    >>> meta = json.dumps({"numerator": 4, "denominator": 6, "simplified_numerator": 2,
    ...                    "simplified_denominator": 3})
    >>> TaskScore()(["<SOLUTION>2/3</SOLUTION>", "<SOLUTION>4/6</SOLUTION>", "2/3", "<SOLUTION>1</SOLUTION>"],
    ...             answer=["2/3", "2/3", "2/3", "1"], task=["fraction_simplification"] * 3 + [None],
    ...             task_metadata=[meta] * 3 + [None])
    [2.0, 0.2, 0.0, None]
    """

    __name__ = "task_score"

    def __init__(self, markers: Markers = DEFAULT_MARKERS) -> None:
        self.markers = markers

    def __call__(
        self,
        completions: Sequence[object],
        answer: Sequence[str],
        task: Sequence[str | None] | None = None,
        task_metadata: Sequence[str | None] | None = None,
        problem: Sequence[str] | None = None,
        **columns: object,
    ) -> list[float | None]:
        n = len(completions)
        tasks, metadata, problems = task or [None] * n, task_metadata or [None] * n, problem or [""] * n
        return [
            self.score(solution_section(completion_text(c), self.markers), gold, name, meta, question)
            for c, gold, name, meta, question in zip(
                completions, answer, tasks, metadata, problems, strict=True
            )
        ]

    def score(
        self, guess: str | None, gold: str, task: str | None, metadata: str | dict | None, question: str = ""
    ) -> float | None:
        if not task or task not in gym_tasks.SAFE_TASKS:
            return None
        if guess is None or len(guess) > MAX_VERIFIED_CHARS:
            return NO_SCORE
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata or {}
        return ACCURATE * gym_tasks.score(task, guess, gold, metadata, question)


REWARDS: dict[str, type[_FormatReward | _AnswerReward | TaskScore]] = {
    "match_format_exactly": MatchFormatExactly,
    "match_format_approximately": MatchFormatApproximately,
    "check_answer": CheckAnswer,
    "check_numbers": CheckNumbers,
    "accuracy": Accuracy,
    "task_score": TaskScore,
}


class UnknownReward(RlvrError, ValueError):
    """A reward name in params that is not one of REWARDS."""


def build_rewards(names: Iterable[str], markers: Markers) -> list[_FormatReward | _AnswerReward | TaskScore]:
    """The rewards of these names, in this order, for completions that use these markers.

    >>> [reward.__name__ for reward in build_rewards(["accuracy", "check_answer"], Markers())]
    ['accuracy', 'check_answer']
    """
    rewards = []
    for name in names:
        if name not in REWARDS:
            raise UnknownReward(
                f"train.rewards: unknown reward {name!r}; the rewards are {', '.join(REWARDS)}"
            )
        rewards.append(REWARDS[name](markers))
    return rewards


def gold_is_verifiable(answer: str) -> bool:
    r"""Whether math-verify reads the gold answer as at least one expression, and it is no word answer
    (rows that fail are dropped).

    >>> gold_is_verifiable(r"\frac{3}{4}"), gold_is_verifiable(""), gold_is_verifiable("5 apples")
    (True, False, False)
    """
    return _on_a_main_thread(_gold_is_verifiable, answer)


def _accuracy(guess: str | None, gold: str) -> float | None:
    gold_parsed = _parsed_gold(gold)
    if not gold_parsed:
        return None
    if guess is None or len(guess) > MAX_VERIFIED_CHARS:
        return NO_SCORE
    try:
        equivalent = within(GUESS_LIMIT_S, _equivalent, gold_parsed, guess)
    except OutOfTime:
        return NO_SCORE
    return ACCURATE if equivalent else NO_SCORE


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
    if len(gold) > MAX_VERIFIED_CHARS or (not _MATH_DELIMITERS.search(gold) and _is_prose(gold)):
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
