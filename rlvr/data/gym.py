"""reasoning-gym's procedural tasks as a data source and a verifier: which tasks rlvr lets in, the rows it
makes of them, the worked targets of the SFT warm-up, and each task's own scoring of an answer.
reasoning-gym itself is imported on first use (its import takes seconds), also to check a task's knobs
against its config dataclass; `check_mix` therefore leaves the default mix, which a test checks, alone.
The task names params may use are `rlvr.config.schema.GYM_TASKS`, this module's `SAFE_TASKS` by name.

A task is let in (`SAFE_TASKS`) only once its verifier, reasoning-gym's `score_answer`, has been read and
found to treat the model's text as data: string comparisons, regular expressions, `Decimal()`, `int()`
and `float()`, all linear in the length of a text that the reward caps anyway. A verifier that parses the
answer as code is refused (`rlvr.config.schema.GYM_REFUSED`): `countdown` hands it to sympy's
`parse_expr`, which runs `eval`.
The tests pin the source of each verifier on the list, so a reasoning-gym upgrade that changes one fails
them until it has been read again (docs/datasets.md).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from rlvr.config.schema import ReasoningGymSource
from rlvr.errors import RlvrError

# Knobs that rlvr sets itself: the mix's `size` and `seed` (each task's seed derives from it).
RESERVED_KNOBS = ("seed", "size")


@dataclass(frozen=True)
class Task:
    """A reasoning-gym task rlvr lets in: what its verifier does with the answer text, and what the SFT
    warm-up's worked target reasons before the answer."""

    verifier: str
    target: str


_EXACT = (
    "reasoning-gym's default: 1.0 when the text equals the gold, else len(gold)/len(text) when the gold "
    "is a substring of it (string operations only)"
)
_DECIMAL = (
    "utils.compute_decimal_reward: commas removed, Decimal(text) == Decimal(gold) gives 1.0, else the "
    "default's substring credit (Decimal() parses a number, never code)"
)

SAFE_TASKS: dict[str, Task] = {
    "basic_arithmetic": Task(_EXACT, "`<expression> = <answer>`"),
    "chain_sum": Task(_DECIMAL, "`<expression> = <answer>`"),
    "products": Task(_DECIMAL, "`<expression> = <answer>`"),
    "leg_counting": Task(
        _EXACT, "each animal's count times its legs, summed: `5 × 6 (grasshopper) + 3 × 4 (tiger) = 42`"
    ),
    "simple_equations": Task(_EXACT, "the equation and its solution: `3*x + 2 = 11, so x = 3`"),
    "fraction_simplification": Task(
        "a regular expression for `\\frac{a}{b}` or a split on `/`, then int() of each side; compared "
        "with the metadata's integers",
        "the greatest common divisor and both divisions",
    ),
    "gsm_symbolic": Task(
        "the first number found by a regular expression, float() of it against float(gold)",
        "the template's own worked solution (its `answer_cot`, without the `#### answer` line)",
    ),
}


class TaskConfigError(RlvrError, ValueError):
    """A reasoning-gym task, or one of its knobs, that rlvr refuses or reasoning-gym rejects."""


def check_mix(mix: ReasoningGymSource) -> None:
    """Refuse a mix whose tasks have knobs their reasoning-gym config lacks, or values of the wrong type,
    naming the task and the knob (a TaskConfigError). The default mix is not checked: reasoning-gym's
    import takes seconds, which `rlvr check-params` would pay for a mix tests/test_gym_tasks.py checks."""
    if mix.tasks == type(mix).model_fields["tasks"].default:
        return
    for number, task in enumerate(mix.tasks):
        try:
            check_knobs(task.name, task.config)
        except ValueError as exc:
            raise TaskConfigError(f"data.reasoning_gym.tasks.{number} ({task.name}): {exc}") from None


def check_knobs(name: str, config: Mapping[str, object]) -> None:
    """Refuse knobs that a task's config does not have, and values of another type than its default (or
    outside its `Literal`); ranges are reasoning-gym's own `validate()`'s to check, when rows are made.

    >>> check_knobs("chain_sum", {"max_terms": 3})
    >>> check_knobs("chain_sum", {"max_term": 3})
    Traceback (most recent call last):
    ...
    ValueError: config.max_term: chain_sum has no such knob; its knobs: min_terms, max_terms, min_digits, \
max_digits, allow_negation
    """
    for key, value in config.items():
        if key in RESERVED_KNOBS:
            raise ValueError(
                f"config.{key}: set by rlvr for the whole mix; use data.reasoning_gym.{key} instead"
            )
        knobs = config_knobs(name)  # reasoning-gym is imported only for a task with knobs to check
        if key not in knobs:
            raise ValueError(f"config.{key}: {name} has no such knob; its knobs: {', '.join(knobs)}")
        if (problem := _type_problem(value, *knobs[key])) is not None:
            raise ValueError(f"config.{key}: {problem} (got {value!r})")


@functools.cache
def config_knobs(name: str) -> dict[str, tuple[object, tuple | None]]:
    """Each knob of a task's config dataclass (but `seed` and `size`, which rlvr sets): its default (None
    without one: any value goes), and the values its `Literal` annotation allows (None without one)."""
    config = _reasoning_gym().factory.DATASETS[name][1]
    hints = typing.get_type_hints(config)
    return {
        field.name: (_default(field), _allowed(hints[field.name]))
        for field in dataclasses.fields(config)
        if field.name not in RESERVED_KNOBS
    }


def _default(field: dataclasses.Field) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    return None if field.default_factory is dataclasses.MISSING else field.default_factory()


def _allowed(annotation: object) -> tuple | None:
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else None


def _type_problem(value: object, default: object, allowed: tuple | None) -> str | None:
    if allowed is not None:
        return None if value in allowed else f"must be one of {', '.join(map(repr, allowed))}"
    if default is None:
        return None
    if isinstance(default, bool):
        expected, ok = "true or false", isinstance(value, bool)
    elif isinstance(default, int | float):
        whole = isinstance(default, int)
        expected = "a whole number" if whole else "a number"
        ok = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
    elif isinstance(default, str):
        expected, ok = "a string", isinstance(value, str)
    elif isinstance(default, tuple | list):
        expected, ok = "a list", isinstance(value, list | tuple)
    else:
        return None
    return None if ok else f"must be {expected}, like its default {default!r}"


@functools.cache
def _reasoning_gym():
    """reasoning-gym, imported once; its import warns about a dependency's syntax (cellpylib)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import reasoning_gym
        import reasoning_gym.composite
        import reasoning_gym.factory

    return reasoning_gym


def make_rows(tasks: Iterable[tuple[str, float, Mapping[str, object]]], size: int, seed: int) -> list[dict]:
    """`size` rows of a weighted mix of tasks (name, weight, knobs), made by reasoning-gym's composite
    dataset: each row draws its task by weight, and task i is seeded with `seed + i + 1`, so the same
    arguments make the same rows, in any process. Each row holds the problem, the gold answer, the worked
    target of the SFT warm-up (`solution`), the task's name and its metadata (what its verifier reads),
    in plain JSON types.

    >>> rows = make_rows([("chain_sum", 1.0, {"max_terms": 2, "max_digits": 1})], size=2, seed=0)
    >>> [(row["task"], row["solution"], row["answer"]) for row in rows]
    [('chain_sum', '4 - 1 = 3', '3'), ('chain_sum', '1 + 5 = 6', '6')]
    """
    tasks = [(name, weight, dict(config)) for name, weight, config in tasks]
    if unsafe := [name for name, _, _ in tasks if name not in SAFE_TASKS]:
        raise TaskConfigError(
            f"tasks {unsafe} have no verifier rlvr has read; the safe ones: {', '.join(SAFE_TASKS)}"
        )
    rg = _reasoning_gym()
    for name, _, config in tasks:  # reasoning-gym's checks, named by task
        try:
            rg.create_dataset(name, seed=seed, size=1, **config)
        except (AssertionError, TypeError, ValueError) as exc:
            raise TaskConfigError(
                f"data.reasoning_gym.tasks: reasoning-gym refuses {name}'s config {config}: "
                f"{exc or 'invalid'}"
            ) from None
    composite = rg.composite
    specs = [composite.DatasetSpec(name=name, weight=weight, config=config) for name, weight, config in tasks]
    dataset = composite.CompositeDataset(composite.CompositeConfig(size=size, seed=seed, datasets=specs))
    return [_row(entry) for entry in dataset]


def _row(entry: Mapping) -> dict:
    metadata = plain(entry["metadata"])
    task = metadata["source_dataset"]
    return {
        "problem": entry["question"],
        "answer": entry["answer"],
        "solution": worked_solution(task, entry["answer"], metadata),
        "task": task,
        "metadata": metadata,
    }


def plain(value: object) -> object:
    """A value in JSON's types: tuples as lists, fractions and decimals as their text.

    >>> plain({"f": Fraction(1, 2), "t": (1, 2), "d": Decimal("0.5")})
    {'f': '1/2', 't': [1, 2], 'd': '0.5'}
    """
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Fraction | Decimal):
        return str(value)
    return value


def worked_solution(task: str, answer: str, metadata: Mapping) -> str:
    """The reasoning of a task's SFT target: short, but worked from the row's own metadata, so the warm-up
    teaches the layout with reasoning that leads to the answer (`SAFE_TASKS[task].target` says what).

    >>> worked_solution("fraction_simplification", "2/3", {"numerator": 4, "denominator": 6,
    ...                 "simplified_numerator": 2, "simplified_denominator": 3})
    'The greatest common divisor of 4 and 6 is 2: 4 ÷ 2 = 2 and 6 ÷ 2 = 3.'
    """
    return _TARGETS[task](answer, metadata)


def _expression(answer: str, m: Mapping) -> str:
    return f"{m['expression']} = {answer}"


def _legs(answer: str, m: Mapping) -> str:
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    terms = " + ".join(f"{count} × {ANIMALS[animal]} ({animal})" for animal, count in m["animals"].items())
    return f"{terms} = {answer}"


def _equation(answer: str, m: Mapping) -> str:
    return f"{m['equation']}, so {m['variable']} = {answer}"


def _fraction(answer: str, m: Mapping) -> str:
    n, d = m["numerator"], m["denominator"]
    divisor = n // m["simplified_numerator"]
    return (
        f"The greatest common divisor of {n} and {d} is {divisor}: {n} ÷ {divisor} = "
        f"{m['simplified_numerator']} and {d} ÷ {divisor} = {m['simplified_denominator']}."
    )


def _cot(answer: str, m: Mapping) -> str:
    return m["answer_cot"].rsplit("####", 1)[0].strip()


_TARGETS: dict[str, Callable[[str, Mapping], str]] = {
    "basic_arithmetic": _expression,
    "chain_sum": _expression,
    "products": _expression,
    "leg_counting": _legs,
    "simple_equations": _equation,
    "fraction_simplification": _fraction,
    "gsm_symbolic": _cot,
}


def score(task: str, answer: str, gold: str, metadata: Mapping, question: str = "") -> float | None:
    """The task's own verifier's score of an answer text, 0.0 to 1.0 (1.0: right; some tasks give partial
    credit); None for a task not on `SAFE_TASKS` (its verifier is never called). The caller caps the
    text's length; a verifier that raises scores 0.0, since one odd completion must not stop training.

    >>> meta = {"numerator": 4, "denominator": 6, "simplified_numerator": 2, "simplified_denominator": 3}
    >>> [score("fraction_simplification", text, "2/3", meta) for text in ("2/3", "4/6", "")]
    [1.0, 0.1, 0.01]
    >>> score("countdown", "1+1", "2", {}) is None
    True
    """
    if task not in SAFE_TASKS:
        return None
    entry = {"question": question, "answer": gold, "metadata": dict(metadata)}
    try:
        return float(_score_answer(task)(answer, entry))
    except Exception:  # noqa: BLE001 - a verifier's bug is a wrong answer, not a crash
        return 0.0


@functools.cache
def _score_answer(task: str) -> Callable[[str, dict], float]:
    return _reasoning_gym().get_score_answer_fn(task)
