"""What a GRPO log says about its learning signal while it runs: the steps where most completions were
cut at the length limit, or most groups tied. Pure: no I/O; the live callback (`rlvr.mlops.live`) and the
report stage both read it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# A GRPO run stalls when, for STALL_STEPS logged steps running, more than half of its completions were cut
# at the length limit, or more than half of its groups tied: the warnings say which, and what to change.
STALL_STEPS = 3
STALLS = {
    "clipped": (
        "completions/clipped_ratio",
        "most completions were cut at train.max_completion_length ({where}): they never reached the end "
        "token, so most never wrote an answer; raise max_completion_length",
    ),
    "tied": (
        "frac_reward_zero_std",
        "most groups scored all alike ({where}): no learning signal, every advantage there was zero",
    ),
}


def stalls(log: Sequence[Mapping], steps: int = STALL_STEPS) -> dict[str, str]:
    """A warning for each way a GRPO log stalled (`STALLS`: `clipped`, `tied`) for `steps` logged steps
    running, naming the first such run of steps; what the live log, the MLflow run and the report say.

    >>> log = [{"step": s, "completions/clipped_ratio": r} for s, r in enumerate([1.0, 0.9, 0.2, 1, 1, 1], 1)]
    >>> stalls(log)["clipped"].split(":")[0]
    'most completions were cut at train.max_completion_length (steps 4-6, clipped_ratio > 0.5 each)'
    >>> stalls(log[:5])
    {}
    """
    found = {}
    for kind, (key, warning) in STALLS.items():
        run: list[Mapping] = []
        for row in (row for row in log if row.get(key) is not None):
            if row[key] > 0.5:
                run.append(row)
            elif len(run) >= steps:
                break
            else:
                run = []
        if len(run) >= steps:
            where = f"steps {run[0].get('step')}-{run[-1].get('step')}, {key.split('/')[-1]} > 0.5 each"
            found[kind] = warning.format(where=where)
    return found
