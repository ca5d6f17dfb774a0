"""Evaluation maths: scoring held-out completions, summarising and comparing models, and what the
numbers let one conclude. Pure: no I/O.

A completion is correct when math-verify finds its solution section equivalent to the gold (the
`accuracy` reward), or, for a row of a reasoning-gym task, when the task's own verifier gives it full
marks (the `task_score` reward); formatted when it has exactly the taught layout
(`match_format_exactly`). Every claim that one model beats another comes from `rlvr.evaluation.stats`:
paired, with a 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from statistics import mean

from rlvr.data.prompts import Markers
from rlvr.evaluation.stats import TOO_WIDE, accuracy_interval, conclusion, paired_comparison, points
from rlvr.verify.rewards import ACCURATE, Accuracy, MatchFormatExactly, TaskScore

COMPARISONS = "comparisons"
# An arm whose groups tied in at least this share of its steps had no learning signal.
NO_SIGNAL = 0.95
# Per-step rewards that pay for the layout (or partial layout) rather than for the answer.
FORMAT_REWARDS = ("match_format_exactly", "match_format_approximately")


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


def compute_spent(manifest: Mapping, log: Sequence[Mapping]) -> dict[str, float]:
    """What a training arm cost: optimizer steps, wall seconds and, for GRPO, generated tokens (each
    generation round's mean completion length times its completions).

    >>> log = [{"step": 1, "completions/mean_length": 10.0}, {"step": 2, "completions/mean_length": 20.0}]
    >>> compute_spent({"steps": 2, "train_runtime_s": 30.0, "completions_per_round": 8}, log)
    {'steps': 2, 'wall_s': 30.0, 'generated_tokens': 240}
    """
    spent = {"steps": manifest.get("steps", 0), "wall_s": manifest.get("train_runtime_s") or 0.0}
    if "completions_per_round" in manifest:
        lengths = [row["completions/mean_length"] for row in log if "completions/mean_length" in row]
        spent["generated_tokens"] = round(sum(lengths) * manifest["completions_per_round"])
    return spent


def tied_share(log: Sequence[Mapping]) -> float | None:
    """The mean share of GRPO groups whose completions all scored the same (no learning signal there).

    >>> tied_share([{"frac_reward_zero_std": 1.0}, {"frac_reward_zero_std": 0.5}, {"loss": 0.1}])
    0.75
    """
    shares = [row["frac_reward_zero_std"] for row in log if "frac_reward_zero_std" in row]
    return mean(shares) if shares else None


def answer_reward(weights: Mapping[str, float]) -> str:
    """The reward that judges the answer in a run weighted by `weights`: the task's own verifier
    (`task_score`) where training pays for it more than for math-verify's `accuracy` (reasoning-gym),
    `accuracy` otherwise. The other one may still be logged, at weight 0, and says nothing there.

    >>> answer_reward({"accuracy": 0.0, "task_score": 1.0}), answer_reward({"accuracy": 2.0})
    ('task_score', 'accuracy')
    """
    return "task_score" if weights.get("task_score", 0) > weights.get("accuracy", 0) else "accuracy"


def reward_hacking(
    log: Sequence[Mapping], heldout: dict | None = None, answer: str = "accuracy"
) -> str | None:
    """A warning when the rewards that pay for the layout rise while the answer's own reward (`answer`)
    falls (over the first and last thirds of the run), or while held-out accuracy falls significantly.

    >>> rising = [{"rewards/match_format_exactly/mean": x / 10, "rewards/accuracy/mean": 1 - x / 10}
    ...           for x in range(9)]
    >>> reward_hacking(rising)
    'format rewards rose (+0.60) while the accuracy reward fell (-0.60): check the samples for reward hacking'
    >>> reward_hacking([dict(row, **{"rewards/accuracy/mean": 0.5}) for row in rising]) is None
    True
    >>> reward_hacking(rising, answer="task_score") is None  # accuracy at weight 0 is not the answer's
    True
    """

    def trend(key: str) -> float | None:
        values = [row[key] for row in log if row.get(key) is not None]
        if len(values) < 3:
            return None
        third = max(1, len(values) // 3)
        return mean(values[-third:]) - mean(values[:third])

    format_gain = sum(t for key in FORMAT_REWARDS if (t := trend(f"rewards/{key}/mean")) is not None)
    answer_trend = trend(f"rewards/{answer}/mean")
    if format_gain <= 0:
        return None
    if answer_trend is not None and answer_trend < 0:
        fell = f"the {answer} reward fell ({answer_trend:+.2f})"
        return f"format rewards rose ({format_gain:+.2f}) while {fell}: check the samples for reward hacking"
    if heldout is not None and heldout["ci_high"] < 0:
        fell = f"held-out accuracy fell ({points(heldout)})"
        return f"format rewards rose ({format_gain:+.2f}) while {fell}: check the samples for reward hacking"
    return None


def recommendation(metrics: Mapping, arms: Mapping[str, Mapping]) -> list[str]:
    """What the run says about SFT, RFT and SFT -> RFT, in sentences the intervals support.

    `arms` maps each trained model to `{"spent": compute_spent(...), "tied": tied_share(...)}`.
    """
    models, comparisons = models_of(metrics), metrics.get(COMPARISONS, [])
    lines = []
    if "sft" in models and (c := find(comparisons, "base", "sft")):
        lines.append(
            f"SFT: format compliance {_pct(models['base']['format'])} -> {_pct(models['sft']['format'])}; "
            f"held-out accuracy: {conclusion(c)}."
        )
    start = "sft" if "sft" in models else "base"
    for arm, origin in (("grpo", start), ("grpo_from_base", "base")):
        if arm not in models or (arm == "grpo_from_base" and start == "base"):
            continue
        info = arms.get(arm, {})
        tied, minutes = info.get("tied"), info.get("spent", {}).get("wall_s", 0) / 60
        label = "RFT on top of SFT" if origin == "sft" else "RFT alone (GRPO from the base model)"
        if tied is not None and tied >= NO_SIGNAL:
            lines.append(
                f"{label}: no learning signal ({_pct(tied)} of groups scored all alike, so every advantage "
                "was zero); it needs completions that score differently (SFT first, or a prefilled "
                "reasoning marker)."
            )
            continue
        c = find(comparisons, origin, arm)
        if c is None:
            continue
        if (c["ci_high"] - c["ci_low"]) / 2 > TOO_WIDE:
            lines.append(f"{label}: {conclusion(c)}.")
        elif c["ci_low"] > 0:
            lines.append(f"{label} adds {points(c)} over {origin} for {minutes:.1f} minutes of training.")
        elif c["ci_high"] < 0:
            lines.append(f"{label} loses {points(c)} against {origin}.")
        else:
            lines.append(f"{label} changes nothing measurable over {origin} ({points(c)}).")
        if arm == "grpo_from_base" and "sft" in models and (versus := find(comparisons, "sft", arm)):
            if versus["ci_low"] <= 0 <= versus["ci_high"]:
                lines.append(
                    f"RFT alone reaches what SFT reaches without worked solutions ({points(versus)})."
                )
            else:
                lines.append(f"RFT alone against SFT: {conclusion(versus)}.")
    return lines


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


def comparison_rows(metrics: Mapping[str, Mapping]) -> list[list[str]]:
    """The before/after table: one row per model (in evaluation order), accuracy with its 95% interval.

    >>> comparison_rows({"base": {"accuracy": 0.0, "accuracy_ci_low": 0.0, "accuracy_ci_high": 0.088,
    ...                           "format": 0.05, "mean_length": 64.0, "problems": 40}})
    [['base', '0.0% [0.0, 8.8]', '5.0%', '64.0', '40']]
    """
    return [
        [
            name,
            f"{m['accuracy']:.1%} [{100 * m['accuracy_ci_low']:.1f}, {100 * m['accuracy_ci_high']:.1f}]",
            f"{m['format']:.1%}",
            f"{m['mean_length']:.1f}",
            str(m["problems"]),
        ]
        for name, m in models_of(metrics).items()
    ]


COMPARISON_HEADER = [
    "model",
    "held-out accuracy [95% CI]",
    "format compliance",
    "mean length (tokens)",
    "problems",
]
DELTA_HEADER = ["comparison", "accuracy delta [95% CI]", "McNemar p", "conclusion"]


def delta_rows(metrics: Mapping) -> list[list[str]]:
    """One row per paired comparison: the delta in points with its interval, the p-value, the verdict.

    >>> delta_rows({"comparisons": [{"from": "sft", "to": "grpo", "delta": 0.06, "ci_low": 0.021,
    ...                              "ci_high": 0.098, "p_value": 0.004, "n": 200}]})[0][:3]
    ['sft -> grpo', '+6.0 points [+2.1, +9.8]', '0.004']
    """
    return [
        [
            f"{c['from']} -> {c['to']}",
            points(c),
            f"{c['p_value']:.3g}",
            conclusion(c),
        ]
        for c in metrics.get(COMPARISONS, [])
    ]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]


def markdown_report(
    metrics: Mapping, registered: dict | None, mlflow_ui: str, notes: Sequence[str] = ()
) -> str:
    """The before/after tables in Markdown, the conclusions, and links to the MLflow run and version.

    >>> print(markdown_report({"base": {"accuracy": 0.0, "accuracy_ci_low": 0.0, "accuracy_ci_high": 0.49,
    ...                                 "format": 0.0, "mean_length": 64.0, "problems": 4}},
    ...                       None, "http://127.0.0.1:5000"))
    # rlvr: held-out evaluation
    <BLANKLINE>
    | model | held-out accuracy [95% CI] | format compliance | mean length (tokens) | problems |
    |---|---|---|---|---|
    | base | 0.0% [0.0, 49.0] | 0.0% | 64.0 | 4 |
    <BLANKLINE>
    No registered version yet.
    """
    lines = ["# rlvr: held-out evaluation", ""]
    lines += _markdown_table(COMPARISON_HEADER, comparison_rows(metrics))
    if metrics.get(COMPARISONS):
        lines += ["", *_markdown_table(DELTA_HEADER, delta_rows(metrics))]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
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
