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
from math import comb

from rlvr.config.schema import Markers
from rlvr.evaluation.stats import accuracy_interval, mean_interval, paired_comparison
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


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from `n` samples of which `c` were right (Chen et al., 2021):
    1 - C(n-c, k) / C(n, k), the chance that k of the n samples, drawn without replacement, hold a right one.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 4), round(pass_at_k(4, 2, 2), 4)
    (0.25, 1.0, 0.0, 0.8333)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def sampled_metrics(counts: Mapping[str, Sequence[int]], n: int, seed: int = 0) -> dict:
    """pass@1 and pass@n per model (each problem answered `n` times at the training temperature; `counts`
    holds each model's right samples per problem, the same problems in the same order), with 95%
    intervals (t over problems for pass@1, Wilson for pass@n), and every pair of models compared,
    paired by problem, for both.

    >>> out = sampled_metrics({"sft": [0, 2, 4, 4], "grpo": [1, 3, 4, 4]}, 4)
    >>> out["sft"]["pass@1"], out["grpo"]["pass@4"], out["comparisons"][0]["metric"]
    (0.625, 1.0, 'pass@1')
    """
    per_model = {}
    for name, model_counts in counts.items():
        at_1 = [pass_at_k(n, c, 1) for c in model_counts]
        at_n = [c > 0 for c in model_counts]
        low_1, high_1 = mean_interval(at_1)
        low_n, high_n = accuracy_interval(at_n)
        per_model[name] = {
            "samples": n,
            "pass@1": sum(at_1) / len(at_1),
            "pass@1_ci_low": low_1,
            "pass@1_ci_high": high_1,
            f"pass@{n}": sum(at_n) / len(at_n),
            f"pass@{n}_ci_low": low_n,
            f"pass@{n}_ci_high": high_n,
            "problems": len(model_counts),
        }
    comparisons = []
    for a, b in combinations(counts, 2):
        for metric, value in (
            ("pass@1", lambda c: pass_at_k(n, c, 1)),
            (f"pass@{n}", lambda c: float(c > 0)),
        ):
            before = [value(c) for c in counts[a]]
            after = [value(c) for c in counts[b]]
            comparisons.append(
                {"metric": metric, **paired_comparison(before, after, names=(a, b), seed=seed)}
            )
    return per_model | {COMPARISONS: comparisons}
