"""Evaluation maths: scoring held-out completions and summarising them per model. Pure: no I/O.

A completion is correct when math-verify finds its solution section equivalent to the gold (the
`accuracy` reward), and formatted when it has exactly the taught layout (`match_format_exactly`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.prompts import Markers
from rlvr.rewards import Accuracy, MatchFormatExactly


def score_completions(
    completions: Sequence[str], answers: Sequence[str], lengths: Sequence[int], markers: Markers
) -> list[dict]:
    """Per completion: `correct`, `formatted` and `tokens` (the generated length).

    >>> score_completions(["<start_working_out>1+1<end_working_out><SOLUTION>2</SOLUTION>", "3"],
    ...                   ["2", "2"], [12, 1], Markers())
    [{'correct': True, 'formatted': True, 'tokens': 12}, {'correct': False, 'formatted': False, 'tokens': 1}]
    """
    accurate = Accuracy(markers)(completions, answer=answers)
    formatted = MatchFormatExactly(markers)(completions)
    return [
        {"correct": bool(a), "formatted": bool(f), "tokens": n}
        for a, f, n in zip(accurate, formatted, lengths, strict=True)
    ]


def summarise(scores: Sequence[dict]) -> dict[str, float]:
    """Held-out accuracy and format compliance (fractions) and mean completion length in tokens.

    >>> summarise([{"correct": True, "formatted": True, "tokens": 10},
    ...            {"correct": False, "formatted": True, "tokens": 20}])
    {'accuracy': 0.5, 'format': 1.0, 'mean_length': 15.0, 'problems': 2}
    """
    n = len(scores)
    if n == 0:
        raise ValueError("no scored completions to summarise")
    return {
        "accuracy": sum(s["correct"] for s in scores) / n,
        "format": sum(s["formatted"] for s in scores) / n,
        "mean_length": sum(s["tokens"] for s in scores) / n,
        "problems": n,
    }


def comparison_rows(metrics: dict[str, dict[str, float]]) -> list[list[str]]:
    """The before/after table: one row per model (in evaluation order), percentages and lengths.

    >>> comparison_rows({"base": {"accuracy": 0.0, "format": 0.05, "mean_length": 64.0, "problems": 40}})
    [['base', '0.0%', '5.0%', '64.0', '40']]
    """
    return [
        [name, f"{m['accuracy']:.1%}", f"{m['format']:.1%}", f"{m['mean_length']:.1f}", str(m["problems"])]
        for name, m in metrics.items()
    ]


COMPARISON_HEADER = ["model", "held-out accuracy", "format compliance", "mean length (tokens)", "problems"]


def markdown_report(metrics: dict[str, dict[str, float]], registered: dict | None, mlflow_ui: str) -> str:
    """The before/after table in Markdown, with links to the MLflow run and registered model version.

    >>> print(markdown_report({"base": {"accuracy": 0.0, "format": 0.0, "mean_length": 64.0, "problems": 4}},
    ...                       None, "http://127.0.0.1:5000"))
    # rlvr: held-out evaluation
    <BLANKLINE>
    | model | held-out accuracy | format compliance | mean length (tokens) | problems |
    |---|---|---|---|---|
    | base | 0.0% | 0.0% | 64.0 | 4 |
    <BLANKLINE>
    No registered version yet.
    """
    lines = ["# rlvr: held-out evaluation", "", "| " + " | ".join(COMPARISON_HEADER) + " |"]
    lines.append("|" + "---|" * len(COMPARISON_HEADER))
    lines += ["| " + " | ".join(row) + " |" for row in comparison_rows(metrics)]
    lines.append("")
    if registered is None:
        lines.append("No registered version yet.")
    else:
        name, version, run = registered["model_name"], registered["version"], registered["run_id"]
        lines.append(
            f"- MLflow run: [{run}]({mlflow_ui}/#/experiments/{registered['experiment_id']}/runs/{run})"
        )
        lines.append(
            f"- Registered model: [{name} v{version}]({mlflow_ui}/#/models/{name}/versions/{version})"
        )
        lines.append(f"- Aliases: {', '.join(registered['aliases'])}")
    return "\n".join(lines)
