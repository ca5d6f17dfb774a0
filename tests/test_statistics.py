"""The paired statistics against references computed independently, and the conclusions drawn from them."""

from __future__ import annotations

import math
import random

import pytest

from rlvr.evaluation.conclusions import answer_reward, recommendation, reward_hacking
from rlvr.evaluation.scoring import compare_models, summarise
from rlvr.evaluation.stats import (
    accuracy_interval,
    conclusion,
    fixed_and_broken,
    paired_comparison,
    replicate_interval,
)


def pairs(both: int, only_before: int, only_after: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Per-problem correctness of two models with the given counts, in a shuffled order."""
    cells = [(True, True)] * both + [(True, False)] * only_before + [(False, True)] * only_after
    cells += [(False, False)] * neither
    random.Random(7).shuffle(cells)
    return [b for b, _ in cells], [a for _, a in cells]


def test_wilson_interval_matches_the_closed_form():
    k, n, z = 37, 120, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = accuracy_interval([True] * k + [False] * (n - k))
    assert low == pytest.approx(centre - half, abs=1e-9) and high == pytest.approx(centre + half, abs=1e-9)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs():
    before, after = pairs(both=50, only_before=2, only_after=10, neither=38)
    c = paired_comparison(before, after)
    # two-sided exact: 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    expected = 2 * sum(math.comb(12, i) for i in range(3)) / 2**12
    assert c["p_value"] == pytest.approx(expected, rel=1e-12)
    assert c["delta"] == pytest.approx(0.08) and c["n"] == 100
    assert fixed_and_broken(before, after) == (10, 2)


def test_bootstrap_interval_agrees_with_the_normal_approximation_on_many_problems():
    before, after = pairs(both=300, only_before=60, only_after=100, neither=540)
    c = paired_comparison(before, after, names=("sft", "grpo"), resamples=20_000, seed=3)
    n, delta = 1000, 0.04
    se = math.sqrt(((60 + 100) / n - delta**2) / n)
    assert c["ci_low"] == pytest.approx(delta - 1.96 * se, abs=0.004)
    assert c["ci_high"] == pytest.approx(delta + 1.96 * se, abs=0.004)
    assert (c["from"], c["to"]) == ("sft", "grpo")
    assert paired_comparison(before, after, resamples=20_000, seed=3) | {"from": "sft", "to": "grpo"} == c


def test_comparison_keys_are_exactly_the_documented_ones():
    c = paired_comparison(*pairs(5, 1, 3, 11))
    assert list(c) == ["from", "to", "delta", "ci_low", "ci_high", "p_value", "n", "fixed", "broken"]
    assert (c["fixed"], c["broken"]) == (3, 1)


def test_replicate_interval_is_the_t_interval_over_runs():
    # deltas 1..5 points: mean 3, sd sqrt(2.5), 4 degrees of freedom, t quantile 2.776445 (tables)
    r = replicate_interval([0.01, 0.02, 0.03, 0.04, 0.05], names=("sft", "grpo"))
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5) / 100
    assert r["delta"] == pytest.approx(0.03) and r["n"] == 5
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    # two-sided p of t = 3 / sqrt(0.5) on 4 df, from the t distribution's closed-form CDF for 4 df
    t = 3 / math.sqrt(0.5)
    x = t / math.sqrt(4 + t * t)
    assert r["p_value"] == pytest.approx(1 - x * (3 - x * x) / 2, rel=1e-9)
    assert list(r) == ["from", "to", "delta", "ci_low", "ci_high", "p_value", "n"]
    assert conclusion(r) == "grpo beats sft by +3.0 points [+1.0, +5.0]"
    spread = replicate_interval([0.05, -0.04, 0.06, -0.03])
    assert spread["ci_low"] < 0 < spread["ci_high"] and spread["p_value"] > 0.05


@pytest.mark.parametrize(
    "deltas, says",
    [([0.03], "at least 2 runs"), ([], "at least 2 runs"), ([0.02, 0.02, 0.02], "same delta"),
     ([0.01, float("nan")], "finite")],
)  # fmt: skip
def test_replicate_interval_refuses_what_is_no_replicate(deltas, says):
    with pytest.raises(ValueError, match=says):
        replicate_interval(deltas)


def test_few_problems_are_too_few_to_conclude_even_when_nothing_moved():
    c = paired_comparison([True, False, True, False], [True, False, True, False], names=("sft", "grpo"))
    assert (c["ci_low"], c["ci_high"]) == (-0.75, 0.75)
    assert conclusion(c).startswith("too few problems to conclude")


def test_every_problem_fixed_on_few_problems_is_no_proof_of_a_gain():
    few = paired_comparison([False] * 4, [True] * 4)
    assert few["delta"] == 1.0 and few["ci_low"] == -0.5 and few["ci_high"] == 1.0 and few["p_value"] == 0.125
    many = paired_comparison([False] * 300, [True] * 300)
    assert many["ci_low"] == 0.98 and many["ci_high"] == 1.0


def test_unequal_problem_sets_are_refused():
    with pytest.raises(ValueError, match="same problems"):
        paired_comparison([True], [True, False])


def test_a_clear_gain_and_no_gain_read_as_such():
    gain = paired_comparison(*pairs(80, 5, 45, 70), names=("sft", "grpo"))
    assert gain["ci_low"] > 0 and conclusion(gain).startswith("grpo beats sft by +20.0 points")
    same = paired_comparison(*pairs(80, 20, 22, 78), names=("sft", "grpo"))
    assert conclusion(same).startswith("no significant difference between sft and grpo")


def scored(correct: list[bool]) -> list[dict]:
    return [{"correct": c, "formatted": True, "tokens": 10} for c in correct]


def test_recommendation_reports_no_signal_and_the_gain_of_each_arm():
    base = [False] * 200
    sft, grpo = pairs(60, 4, 30, 106)
    scores = {"base": scored(base), "sft": scored(sft), "grpo": scored(grpo), "grpo_from_base": scored(base)}
    metrics = {name: summarise(s) for name, s in scores.items()} | {"comparisons": compare_models(scores)}
    arms = {
        "sft": {"spent": {"steps": 30, "wall_s": 120.0}, "tied": None},
        "grpo": {"spent": {"steps": 20, "wall_s": 300.0, "generated_tokens": 9000}, "tied": 0.4},
        "grpo_from_base": {"spent": {"steps": 20, "wall_s": 300.0, "generated_tokens": 9000}, "tied": 1.0},
    }
    lines = recommendation(metrics, arms)
    assert lines[1].startswith("RFT on top of SFT adds +13.0 points [") and "5.0 minutes" in lines[1]
    assert lines[2].startswith("RFT alone (GRPO from the base model): no learning signal (100% of groups")


def test_reward_hacking_trips_on_format_up_accuracy_down_and_not_otherwise():
    steps = range(1, 13)
    hacked = [
        {
            "step": s,
            "rewards/match_format_approximately/mean": -4 + s / 2,
            "rewards/accuracy/mean": 1.0 - s / 20,
        }
        for s in steps
    ]
    assert "check the samples for reward hacking" in reward_hacking(hacked)
    honest = [dict(row, **{"rewards/accuracy/mean": s / 20}) for s, row in zip(steps, hacked, strict=True)]
    assert reward_hacking(honest) is None
    flat_accuracy = [dict(row, **{"rewards/accuracy/mean": 0.5}) for row in hacked]
    fell = {"delta": -0.1, "ci_low": -0.15, "ci_high": -0.05}
    assert "held-out accuracy fell (-10.0 points" in reward_hacking(flat_accuracy, fell)
    assert reward_hacking(flat_accuracy, {"delta": 0.0, "ci_low": -0.05, "ci_high": 0.05}) is None


def test_reward_hacking_reads_the_reward_that_judges_the_answer():
    """On reasoning-gym the task's verifier (`task_score`) pays for the answer and `accuracy` is logged at
    weight 0 (None on task rows): the check follows the one training pays for."""
    weights = {"match_format_exactly": 0.5, "accuracy": 0.0, "task_score": 1.0}
    assert answer_reward(weights) == "task_score" and answer_reward({"accuracy": 2.0}) == "accuracy"
    rows = [
        {
            "rewards/match_format_exactly/mean": s / 10,
            "rewards/accuracy/mean": None,
            "rewards/task_score/mean": 0.8 - s / 20,
        }
        for s in range(1, 13)
    ]
    warning = reward_hacking(rows, answer=answer_reward(weights))
    assert warning is not None and "the task_score reward fell (-0.40)" in warning
    assert reward_hacking(rows) is None  # reading `accuracy` there sees nothing at all
