"""Standard benchmarks beside the held-out split: the column layouts rlvr reads, the pinned hub revisions,
and benchmark rows as rlvr's rows (`problem`, `answer`). Pure: loading is `rlvr.data.sources.load_benchmark`.

A layout is the hub dataset's own columns, so a local copy in the same columns (the hub repo's own
`test.jsonl` or Parquet file, say) reads the same way offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from rlvr.errors import DataError


@dataclass(frozen=True)
class Layout:
    """The columns holding the problem and the gold, and how the gold's final answer is read from it."""

    problem: str
    answer: str
    final_answer: Callable[[str], str | None]

    @property
    def columns(self) -> dict[str, str | None]:
        """`rlvr.data.sources.load_local`'s column mapping: each field's column."""
        return {"problem": self.problem, "answer": self.answer, "solution": None}


def gsm8k_answer(solution: str) -> str | None:
    """GSM8K's gold: the number after the worked solution's last `####`, thousands commas removed; None
    without one.

    >>> gsm8k_answer("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\\n#### 1,072"), gsm8k_answer("72")
    ('1072', None)
    """
    head, marker, tail = solution.rpartition("####")
    return tail.strip().replace(",", "") or None if marker else None


def as_is(answer: str) -> str | None:
    return answer.strip() or None


# MATH-500 (HuggingFaceH4/MATH-500: problem, solution, answer, subject, level, unique_id); AIME 2024
# (HuggingFaceH4/aime_2024) has the same `problem` and `answer` columns. GSM8K (openai/gsm8k, config main:
# question, answer = the worked solution ending in `#### <number>`).
LAYOUTS: dict[str, Layout] = {
    "math500": Layout("problem", "answer", as_is),
    "gsm8k": Layout("question", "answer", gsm8k_answer),
}


def benchmark_rows(suite: str, layout: str, rows: Iterable[Mapping]) -> list[dict]:
    """A benchmark's rows (already in rlvr's field names, as `load_local` and `load_hub` give them) as
    rows of the suite: `suite`, `problem`, and the final answer as `answer`. A row without a problem or a
    final answer is an error naming the suite, since a benchmark is scored whole or not at all.

    >>> benchmark_rows("gsm8k", "gsm8k", [{"problem": "2 + 2?", "answer": "2 + 2 = 4\\n#### 4"}])
    [{'suite': 'gsm8k', 'problem': '2 + 2?', 'answer': '4'}]
    """
    read = LAYOUTS[layout].final_answer
    out = []
    for number, row in enumerate(rows, start=1):
        problem, answer = row.get("problem"), row.get("answer")
        answer = read(str(answer)) if answer is not None and not isinstance(answer, bool) else None
        if not isinstance(problem, str) or not problem.strip() or answer is None:
            raise DataError(
                f"benchmark {suite}, row {number}: no problem or no final answer in the {layout} layout "
                f"(columns {LAYOUTS[layout].problem!r} and {LAYOUTS[layout].answer!r}); check its path"
            )
        out.append({"suite": suite, "problem": problem.strip(), "answer": answer})
    return out
