"""The per-model evaluations (each `evaluate@<model>` stage's completions) put side by side: every model's
scores on each suite, problem by problem in one order, as the paired comparisons need them. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rlvr.config.schema import HELDOUT
from rlvr.errors import DataError


def suite_scores(records: Mapping[str, Sequence[dict]]) -> dict[str, dict[str, list[dict]]]:
    """Each suite's scores per model (`{suite: {model: [{correct, formatted, tokens}, ...]}}`) from each
    model's completions (a held-out one carries no `suite`). Every model must have answered the same
    problems of the same suites in the same order, or no pair of them can be compared: one that did not
    (its evaluation made from other data) is an error naming it.

    >>> row = {"id": "a", "correct": True, "formatted": True, "tokens": 3}
    >>> suite_scores({"base": [row], "sft": [row | {"correct": False}]})[HELDOUT]["sft"]
    [{'correct': False, 'formatted': True, 'tokens': 3}]
    >>> suite_scores({"base": [row], "sft": [row | {"id": "b"}]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rlvr.errors.DataError: sft was evaluated on other heldout problems than base (...); run `dvc repro` ...
    """
    scores: dict[str, dict[str, list[dict]]] = {}
    problems: dict[str, dict[str, list[str]]] = {}
    for model, rows in records.items():
        for suite in dict.fromkeys(row.get("suite", HELDOUT) for row in rows):
            suite_rows = [row for row in rows if row.get("suite", HELDOUT) == suite]
            problems.setdefault(model, {})[suite] = [row["id"] for row in suite_rows]
            scores.setdefault(suite, {})[model] = [
                {key: row[key] for key in ("correct", "formatted", "tokens")} for row in suite_rows
            ]
    first, *others = problems
    for model in others:
        if problems[model] != problems[first]:
            raise DataError(
                f"{model} was evaluated on other {', '.join(problems[model])} problems than {first} "
                f"({', '.join(problems[first])}); run `dvc repro` to evaluate every model on the same data"
            )
    return scores
