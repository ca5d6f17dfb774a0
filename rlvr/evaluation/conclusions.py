"""What a run's numbers let one conclude: what each arm cost, whether its groups carried signal, reward
hacking, and the verdict on SFT, RFT and SFT then RFT in sentences the intervals support. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import mean

from rlvr.evaluation.scoring import COMPARISONS, find, models_of
from rlvr.evaluation.stats import TOO_WIDE, conclusion, points

# An arm whose groups tied in at least this share of its steps had no learning signal.
NO_SIGNAL = 0.95

# Per-step rewards that pay for the layout (or partial layout) rather than for the answer.
FORMAT_REWARDS = ("match_format_exactly", "match_format_approximately")


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


def data_regime(worked_solutions: int, grpo_problems: int | None) -> str:
    """Which data regime a run is in, the one the RFT-vs-SFT answer depends on: SFT learns from worked
    solutions (demonstrations are costly), GRPO from answers a verifier checks (cheap). Few of the first
    beside many of the second is the regime RFT is for.

    >>> data_regime(32, 460).split(": ")[2]
    'few demonstrations, many checkable answers (the regime RFT is for).'
    >>> data_regime(460, 460).split(": ")[1]
    'SFT on 460 worked solutions, GRPO on 460 answer-only problems'
    """
    if grpo_problems is None:
        return f"Data regime: SFT on {worked_solutions} worked solutions, no GRPO arm trained."
    few = worked_solutions * 4 <= grpo_problems
    kind = (
        "few demonstrations, many checkable answers (the regime RFT is for)"
        if few
        else "demonstrations as plentiful as the problems (SFT's own regime)"
    )
    counts = f"SFT on {worked_solutions} worked solutions, GRPO on {grpo_problems} answer-only problems"
    return f"Data regime: {counts}: {kind}."
