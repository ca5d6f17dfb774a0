r"""The verifiable rewards GRPO trains on: two for the answer format, three for the answer itself.

Each reward is a small class built with the `Markers`, called the way TRL's GRPOTrainer calls reward
functions: `reward(completions=..., answer=..., prompts=..., trainer_state=..., **other_columns)`,
returning one score per completion (None: the row does not count). Plain strings work as completions,
so `reward(["..."], answer=["42"])` works outside the trainer too. TRL names a reward (in its logs) by
`reward.__name__`, hence the class attribute. Scores and weights are documented in docs/rewards.md.

The rewards are picked by name from `REWARDS` (the names params may use are
`rlvr.config.schema.REWARD_NAMES`). `NOTEBOOK_REWARDS` holds the same names scored as Unsloth's Qwen3
GRPO notebook scores them (`train.reward_scores: notebook`), written here from the notebook's documented
behaviour: the seed recipe's own numbers, where rlvr's hardened ones differ in five cases. Symbolic
equivalence, and the limits that keep it safe on model text, live in `rlvr.verify.equivalence`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from rlvr.config.schema import Markers
from rlvr.data import gym
from rlvr.verify.equivalence import MAX_VERIFIED_CHARS, equivalent
from rlvr.verify.parsing import (
    as_number,
    completion_text,
    first_number,
    notebook_number,
    notebook_solution,
    solution_section,
    without_whitespace,
)

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
# The notebook's scores where rlvr's differ (`train.reward_scores: notebook`).
NOTEBOOK_NO_ANSWER = -2.0
NOTEBOOK_NO_NUMBER = -2.5
NOTEBOOK_UNREADABLE_ANSWER = -4.5

DEFAULT_MARKERS = Markers()


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
            self.score(self.section(completion_text(completion)), gold)
            for completion, gold in zip(completions, answer, strict=True)
        ]

    def section(self, text: str) -> str | None:
        """The part of the completion the reward compares with the gold: the solution section."""
        return solution_section(text, self.markers)

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
    None (the row does not count) when the gold cannot be parsed
    (`rlvr.verify.equivalence.gold_is_verifiable`).

    >>> Accuracy()([r"<SOLUTION>\frac{3}{4}</SOLUTION>", "<SOLUTION>0.7</SOLUTION>", "3/4"],
    ...            answer=["0.75"] * 3)
    [2.0, 0.0, 0.0]
    >>> Accuracy()([r"<SOLUTION>Therefore $x \geq 5$.</SOLUTION>", "<SOLUTION>1 000</SOLUTION>"],
    ...            answer=[r"x \geq 5", "1000"])
    [2.0, 2.0]
    """

    __name__ = "accuracy"

    def score(self, guess: str | None, gold: str) -> float | None:
        verdict = equivalent(guess, gold)
        return None if verdict is None else ACCURATE if verdict else NO_SCORE


class TaskScore:
    """The row's own reasoning-gym verifier on the solution section, scaled to `accuracy`'s 2.0: 2.0 right,
    the task's partial credit in between (some tasks pay for a near miss), 0.0 without a solution section
    or with one over 300 characters (never handed to the verifier). None (the row does not count) for a
    row without a task, or with a task whose verifier rlvr has not cleared (`rlvr.data.gym.SAFE_TASKS`).

    The task and its metadata reach the reward as the `task` and `task_metadata` columns of the training
    examples (`rlvr.data.examples.to_grpo_example`). The verifiers cleared treat the text as data (string and
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
        if not task or task not in gym.SAFE_TASKS:
            return None
        if guess is None or len(guess) > MAX_VERIFIED_CHARS:
            return NO_SCORE
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata or {}
        return ACCURATE * gym.score(task, guess, gold, metadata, question)


class NotebookMatchFormatExactly(MatchFormatExactly):
    """The notebook's exact format: 3.0 when its expression finds the layout (`notebook_solution`), which
    accepts text between the sections and on lines after the solution; else 0.

    >>> NotebookMatchFormatExactly()(["6*7<end_working_out>so<SOLUTION>42</SOLUTION>\\nDone.", "42"])
    [3.0, 0.0]
    """

    def score(self, text: str) -> float:
        return FORMAT_EXACT if notebook_solution(text, self.markers) is not None else NO_SCORE


class NotebookMatchFormatApproximately(MatchFormatApproximately):
    """The notebook's approximate format: +0.5 / -1.0 for each of the three markers after the reasoning
    start (which its prompt always writes), -3.0 to 1.5 whatever `prefill_reasoning` says."""

    def score(self, text: str) -> float:
        return sum(
            MARKER_ONCE if text.count(marker) == 1 else MARKER_MISSING_OR_REPEATED
            for marker in self.markers.as_tuple()[1:]
        )


class NotebookCheckAnswer(CheckAnswer):
    """The notebook's `check_answer`: the unstripped capture of its format expression against the gold:
    5.0 the same text, 3.5 the same once both ends are stripped, else by the ratio `float(guess) /
    float(gold)`: 2.0 in [0.9, 1.1], 1.5 in [0.8, 1.2], -2.5 otherwise, -4.5 when either is no float
    (a LaTeX gold, `3/4`) or the gold is 0; -2.0 when the format expression finds no solution.

    >>> NotebookCheckAnswer()(["<end_working_out><SOLUTION> 42 </SOLUTION>", "<SOLUTION>42</SOLUTION>",
    ...                        "<end_working_out><SOLUTION>3/4</SOLUTION>"], answer=["42", "42", "0.75"])
    [3.5, -2.0, -4.5]
    """

    def section(self, text: str) -> str | None:
        return notebook_solution(text, self.markers)

    def score(self, guess: str | None, gold: str) -> float:
        if guess is None:
            return NOTEBOOK_NO_ANSWER
        if guess == gold:
            return ANSWER_EXACT
        if guess.strip() == gold.strip():
            return ANSWER_EXACT_IGNORING_WHITESPACE
        try:
            ratio = float(guess) / float(gold)  # float() reads the text as data: nothing is evaluated
        except (ValueError, ZeroDivisionError):
            return NOTEBOOK_UNREADABLE_ANSWER
        if 0.9 <= ratio <= 1.1:
            return ANSWER_WITHIN_10_PERCENT
        if 0.8 <= ratio <= 1.2:
            return ANSWER_WITHIN_20_PERCENT
        return ANSWER_WRONG


class NotebookCheckNumbers(CheckNumbers):
    """The notebook's `check_numbers`: the first number after the first solution start
    (`notebook_number`, closed section or not), commas removed, against `float(gold)`: 3.5 equal, -1.5
    different, 0.0 when either is no float (a non-numeric gold included), -2.5 when there is no number.

    >>> NotebookCheckNumbers()(["<SOLUTION>1,234", "<SOLUTION>?</SOLUTION>", "<SOLUTION>2"],
    ...                        answer=["1234", "3", "x + 1"])
    [3.5, -2.5, 0.0]
    """

    def section(self, text: str) -> str | None:
        return notebook_number(text, self.markers)

    def score(self, guess: str | None, gold: str) -> float:
        if guess is None:
            return NOTEBOOK_NO_NUMBER
        try:
            same = float(guess.replace(",", "")) == float(gold.strip())
        except ValueError:
            return NO_SCORE
        return NUMBER_EQUAL if same else NUMBER_DIFFERENT


REWARDS: dict[str, type[_FormatReward | _AnswerReward | TaskScore]] = {
    "match_format_exactly": MatchFormatExactly,
    "match_format_approximately": MatchFormatApproximately,
    "check_answer": CheckAnswer,
    "check_numbers": CheckNumbers,
    "accuracy": Accuracy,
    "task_score": TaskScore,
}


NOTEBOOK_REWARDS = REWARDS | {
    "match_format_exactly": NotebookMatchFormatExactly,
    "match_format_approximately": NotebookMatchFormatApproximately,
    "check_answer": NotebookCheckAnswer,
    "check_numbers": NotebookCheckNumbers,
}
SCORES = {"rlvr": REWARDS, "notebook": NOTEBOOK_REWARDS}  # rlvr.config.schema.REWARD_SCORES


def build_rewards(
    names: Iterable[str], markers: Markers, scores: str = "rlvr"
) -> list[_FormatReward | _AnswerReward | TaskScore]:
    """The rewards of these names, in this order, for completions that use these markers, scored as
    `scores` says (`train.reward_scores`: rlvr's `REWARDS` or the notebook's `NOTEBOOK_REWARDS`).

    >>> [type(r).__name__ for r in build_rewards(["accuracy", "check_answer"], Markers(), "notebook")]
    ['Accuracy', 'NotebookCheckAnswer']
    """
    return [SCORES[scores][name](markers) for name in names]
