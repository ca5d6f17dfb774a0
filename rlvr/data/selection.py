"""Selecting training problems by pass rate: where GRPO has something to learn. Pure: no I/O.

A GRPO group teaches only when its completions score differently, so a problem the starting model always
gets right, or never, is a wasted group. Answered `samples` times before training (the select stage), a
problem's pass rate says which it is; the problems kept are those strictly inside the band (by default
0 < rate < 1), and the histogram of rates says, before any GRPO step, how much signal the data holds.
"""

from __future__ import annotations

from collections.abc import Sequence


def pass_counts(correct: Sequence[Sequence[bool]]) -> list[int]:
    """How many of each problem's samples were right.

    >>> pass_counts([[True, False, True], [False, False, False]])
    [2, 0]
    """
    return [sum(map(bool, samples)) for samples in correct]


def histogram(counts: Sequence[int], samples: int) -> dict[str, int]:
    """Problems by number of right samples, every count from 0 to `samples` listed (zeros too).

    >>> histogram([0, 2, 2, 4], 4)
    {'0/4': 1, '1/4': 0, '2/4': 2, '3/4': 0, '4/4': 1}
    """
    return {f"{k}/{samples}": sum(1 for c in counts if c == k) for k in range(samples + 1)}


def select(rows: Sequence[dict], counts: Sequence[int], samples: int, band: Sequence[float]) -> list[dict]:
    """The rows whose pass rate lies strictly inside `band` (low < rate < high), each with its `pass_rate`.

    >>> select([{"problem": "a"}, {"problem": "b"}, {"problem": "c"}], [0, 3, 4], 4, [0.0, 1.0])
    [{'problem': 'b', 'pass_rate': 0.75}]
    """
    low, high = band
    return [
        {**row, "pass_rate": count / samples}
        for row, count in zip(rows, counts, strict=True)
        if low < count / samples < high
    ]
