"""Scoring held-out completions, and summarising and comparing models on them. Pure: no I/O.

A completion is correct when math-verify finds its solution section equivalent to the gold (the
`accuracy` reward), or, for a row of a reasoning-gym task, when the task's own verifier gives it full
marks (the `task_score` reward); formatted when it has exactly the taught layout
(`match_format_exactly`). Every claim that one model beats another comes from `rlvr.evaluation.stats`:
paired, with a 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from rlvr.config.schema import Markers
from rlvr.evaluation.stats import accuracy_interval, paired_comparison
from rlvr.verify.rewards import ACCURATE, Accuracy, MatchFormatExactly, TaskScore

COMPARISONS = "comparisons"


def score_completions(
    completions: Sequence[str],
    answers: Sequence[str],
    lengths: Sequence[int],
    markers: Markers,
    tasks: Sequence[str | None] | None = None,
    metadata: Sequence[Mapping | str | None] | None = None,
) -> list[dict]:
    """Per completion: `correct`, `formatted` and `tokens` (the generated length). A row with a task
    (`tasks`, with its `metadata`) is judged by the task's verifier, the others by math-verify.

    >>> score_completions(["<start_working_out>1+1<end_working_out><SOLUTION>2</SOLUTION>", "3"],
    ...                   ["2", "2"], [12, 1], Markers())
    [{'correct': True, 'formatted': True, 'tokens': 12}, {'correct': False, 'formatted': False, 'tokens': 1}]
    >>> [s["correct"] for s in score_completions(["<SOLUTION>5</SOLUTION>"] * 2, ["5", "5"], [3, 3],
    ...                                           Markers(), tasks=["leg_counting", None])]
    [True, True]
    """
    accurate = Accuracy(markers)(completions, answer=answers)
    if tasks is not None and any(tasks):
        verified = TaskScore(markers)(completions, answer=answers, task=tasks, task_metadata=metadata)
        # full marks from the task's verifier; rows without a task keep math-verify's verdict
        accurate = [a if v is None else v == ACCURATE for a, v in zip(accurate, verified, strict=True)]
    formatted = MatchFormatExactly(markers)(completions)
    return [
        {"correct": bool(a), "formatted": bool(f), "tokens": n}
        for a, f, n in zip(accurate, formatted, lengths, strict=True)
    ]


def summarise(scores: Sequence[dict]) -> dict[str, float]:
    """Held-out accuracy with its Wilson 95% interval, format compliance (fractions), mean completion
    length in tokens.

    >>> summarise([{"correct": True, "formatted": True, "tokens": 10},
    ...            {"correct": False, "formatted": True, "tokens": 20}])["accuracy"]
    0.5
    """
    n = len(scores)
    if n == 0:
        raise ValueError("no scored completions to summarise")
    correct = [s["correct"] for s in scores]
    low, high = accuracy_interval(correct)
    return {
        "accuracy": sum(correct) / n,
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "format": sum(s["formatted"] for s in scores) / n,
        "mean_length": sum(s["tokens"] for s in scores) / n,
        "problems": n,
    }


def compare_models(scores: Mapping[str, Sequence[dict]], seed: int = 0) -> list[dict]:
    """Every pair of models, the earlier evaluated first, on their per-problem correctness (the same
    problems in the same order for each model).

    >>> right, wrong = {"correct": True}, {"correct": False}
    >>> [(c["from"], c["to"], c["delta"]) for c in compare_models(
    ...     {"base": [wrong] * 4, "sft": [right, wrong, right, wrong], "grpo": [right] * 4})]
    [('base', 'sft', 0.5), ('base', 'grpo', 1.0), ('sft', 'grpo', 0.5)]
    """
    return [
        paired_comparison(
            [s["correct"] for s in scores[a]], [s["correct"] for s in scores[b]], names=(a, b), seed=seed
        )
        for a, b in combinations(scores, 2)
    ]


def suite_metrics(scores: Mapping[str, Sequence[dict]], seed: int = 0) -> dict:
    """One suite's metrics, in `metrics/eval.json`'s shape: each model's summary, then the paired
    comparisons of every pair of models under `comparisons`.

    >>> right = {"correct": True, "formatted": True, "tokens": 4}
    >>> wrong = {"correct": False, "formatted": False, "tokens": 8}
    >>> metrics = suite_metrics({"base": [wrong, wrong], "sft": [right, wrong]})
    >>> list(metrics), metrics["sft"]["accuracy"], metrics[COMPARISONS][0]["delta"]
    (['base', 'sft', 'comparisons'], 0.5, 0.5)
    """
    return {name: summarise(s) for name, s in scores.items()} | {COMPARISONS: compare_models(scores, seed)}


def models_of(metrics: Mapping[str, object]) -> dict[str, dict]:
    """The per-model entries of `metrics/eval.json` (everything but its comparisons)."""
    return {name: values for name, values in metrics.items() if name != COMPARISONS}


def find(comparisons: Sequence[dict], a: str, b: str) -> dict | None:
    return next((c for c in comparisons if c["from"] == a and c["to"] == b), None)
