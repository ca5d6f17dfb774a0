"""Paired statistics for "model B beats model A": the numbers behind every comparison rlvr reports. Pure.

Every model is scored on the same held-out problems, so a comparison uses the per-problem pairs: the
accuracy delta, a paired bootstrap 95% interval of it (resampling problems, seeded) and an exact McNemar
p-value (a binomial test on the problems that only one of the two models got right). Each model's own
accuracy gets a Wilson 95% interval. scipy does the statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

CONFIDENCE = 0.95
RESAMPLES = 10_000
# Half-width above which an interval is reported as too wide to conclude anything from.
TOO_WIDE = 0.08


def accuracy_interval(correct: Sequence[bool], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of the fraction of `correct` (sound at 0% and 100%, unlike the normal
    approximation).

    >>> [round(x, 3) for x in accuracy_interval([True] * 45 + [False] * 55)]
    [0.356, 0.548]
    >>> accuracy_interval([False] * 20)[0]
    0.0
    """
    from scipy.stats import binomtest

    if not correct:
        raise ValueError("no scored problems to put an interval on")
    interval = binomtest(sum(map(bool, correct)), len(correct)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A Student t interval for the mean of per-problem values in [0, 1] (pass@1 estimates), clipped to
    [0, 1]; the single value twice when they all agree.

    >>> [round(x, 3) for x in mean_interval([0.0, 0.5, 0.5, 1.0])]
    [0.0, 1.0]
    >>> mean_interval([0.25] * 10)
    (0.25, 0.25)
    """
    import numpy as np
    from scipy.stats import t

    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or np.all(data == data[0]):
        return mean, mean
    half = float(t.ppf((1 + confidence) / 2, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data)))
    return max(0.0, mean - half), min(1.0, mean + half)


def paired_comparison(
    before: Sequence[bool],
    after: Sequence[bool],
    names: tuple[str, str] = ("before", "after"),
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict:
    """`after` against `before` on the same problems, in the same order: one dict with exactly the keys
    `from`, `to`, `delta`, `ci_low`, `ci_high`, `p_value`, `n`.

    >>> c = paired_comparison([False] * 50 + [True] * 50, [True] * 20 + [False] * 30 + [True] * 50)
    >>> c["delta"], c["n"], round(c["p_value"], 7), c["ci_low"] > 0
    (0.2, 100, 1.9e-06, True)
    >>> c = paired_comparison([True, False] * 100, [True, False] * 100)
    >>> c["delta"], c["ci_low"], c["ci_high"], c["p_value"]
    (0.0, -0.015, 0.015, 1.0)
    """
    import numpy as np
    from scipy.stats import binomtest, bootstrap

    if len(before) != len(after):
        raise ValueError(f"paired comparison needs the same problems: {len(before)} != {len(after)}")
    if not before:
        raise ValueError("no problems to compare on")
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    n = len(diff)
    delta = float(diff.mean())
    if np.all(diff == diff[0]):
        # Nothing to resample (every problem moved alike): the bootstrap would give a zero-width interval
        # on any n. The rule of three bounds the share of problems that could behave otherwise (95% upper
        # bound 3/n); at worst they all sit at the other extreme, which bounds the delta: 4 problems that
        # all moved the same way say little, 400 say a lot.
        share = 3 / n
        low, high = max(-1.0, delta - share * (delta + 1)), min(1.0, delta + share * (1 - delta))
    else:
        result = bootstrap(
            (diff,),
            np.mean,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    fixed, broken = int((diff > 0).sum()), int((diff < 0).sum())
    p_value = float(binomtest(fixed, fixed + broken, 0.5).pvalue) if fixed + broken else 1.0
    return {
        "from": names[0],
        "to": names[1],
        "delta": delta,
        "ci_low": low,
        "ci_high": high,
        "p_value": p_value,
        "n": n,
        "fixed": fixed,
        "broken": broken,
    }


def pooled_problems(comparisons: Sequence[dict], seed: int = 0, resamples: int = RESAMPLES) -> dict:
    """The problem-level pooled estimate over several runs' paired comparisons (each with `fixed`,
    `broken` and `n`): every run's problems as one paired sample, with a paired bootstrap interval. It
    treats problems as the unit, so it ignores how much runs differ from one another; the interval over
    runs (`replicate_interval`) is the one that does not.

    >>> runs = [{"fixed": 10, "broken": 4, "n": 100}, {"fixed": 3, "broken": 9, "n": 100}]
    >>> r = pooled_problems(runs)
    >>> round(r["delta"], 3), r["n"], (r["fixed"], r["broken"])
    (0.0, 200, (13, 13))
    """
    before: list[bool] = []
    after: list[bool] = []
    for c in comparisons:
        same = c["n"] - c["fixed"] - c["broken"]
        before += [False] * c["fixed"] + [True] * c["broken"] + [True] * same
        after += [True] * c["fixed"] + [False] * c["broken"] + [True] * same
    first = comparisons[0]
    names = (first.get("from", "before"), first.get("to", "after"))
    return paired_comparison(before, after, names=names, seed=seed, resamples=resamples)


def replicate_interval(
    deltas: Sequence[float], names: tuple[str, str] = ("before", "after"), confidence: float = CONFIDENCE
) -> dict:
    """The mean of independent runs' paired deltas, with its Student t interval and two-sided p (no gain on
    average): the verdict on a recipe rather than on one run. One run's paired bootstrap resamples problems
    only; it cannot see how much another training seed would have moved the result. Same keys as
    `paired_comparison`, with `n` counting runs.

    >>> r = replicate_interval([0.07, 0.067, 0.067, -0.013, 0.003, 0.02, 0.03], names=("sft", "grpo"))
    >>> [round(100 * r[k], 1) for k in ("delta", "ci_low", "ci_high")], round(r["p_value"], 3), r["n"]
    ([3.5, 0.4, 6.6], 0.034, 7)
    """
    import numpy as np
    from scipy.stats import ttest_1samp

    values = np.asarray(deltas, dtype=float)
    if len(values) < 2:
        raise ValueError(f"an interval over runs needs at least 2 runs, got {len(values)}: run more seeds")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"every run's delta must be a finite number, got {list(deltas)}")
    if np.all(values == values[0]):
        raise ValueError(
            f"all {len(values)} runs gave the same delta ({100 * values[0]:+.1f} points), so their "
            "spread is zero and a t interval is undefined: read each run's own interval"
        )
    test = ttest_1samp(values, 0.0)
    interval = test.confidence_interval(confidence)
    return {
        "from": names[0],
        "to": names[1],
        "delta": float(values.mean()),
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "p_value": float(test.pvalue),
        "n": len(values),
    }


def fixed_and_broken(before: Sequence[bool], after: Sequence[bool]) -> tuple[int, int]:
    """Problems `after` gets right that `before` got wrong, and the reverse.

    >>> fixed_and_broken([True, False, False, True], [True, True, True, False])
    (2, 1)
    """
    fixed = sum(1 for b, a in zip(before, after, strict=True) if a and not b)
    broken = sum(1 for b, a in zip(before, after, strict=True) if b and not a)
    return fixed, broken


def conclusion(comparison: dict, too_wide: float = TOO_WIDE) -> str:
    """What the interval lets one say, in words.

    >>> conclusion({"from": "sft", "to": "grpo", "delta": 0.06, "ci_low": 0.021, "ci_high": 0.098})
    'grpo beats sft by +6.0 points [+2.1, +9.8]'
    >>> conclusion({"from": "sft", "to": "grpo", "delta": 0.01, "ci_low": -0.03, "ci_high": 0.05})
    'no significant difference between sft and grpo (+1.0 points [-3.0, +5.0])'
    >>> conclusion({"from": "a", "to": "b", "delta": 0.05, "ci_low": -0.1, "ci_high": 0.2})
    'too few problems to conclude: a to b is +5.0 points [-10.0, +20.0], wider than +/-8 points'
    """
    span = points(comparison)
    a, b = comparison["from"], comparison["to"]
    if (comparison["ci_high"] - comparison["ci_low"]) / 2 > too_wide:
        limit = f"+/-{100 * too_wide:.0f} points"
        return f"too few problems to conclude: {a} to {b} is {span}, wider than {limit}"
    if comparison["ci_low"] > 0:
        return f"{b} beats {a} by {span}"
    if comparison["ci_high"] < 0:
        return f"{b} is worse than {a} by {span}"
    return f"no significant difference between {a} and {b} ({span})"


def points(comparison: dict) -> str:
    """The delta and its interval in percentage points.

    >>> points({"delta": 0.031, "ci_low": -0.012, "ci_high": 0.075})
    '+3.1 points [-1.2, +7.5]'
    """
    c = comparison
    return f"{100 * c['delta']:+.1f} points [{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]"
