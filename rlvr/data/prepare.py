"""From raw rows to the train and held-out sets: cleaning, dedupe, filters, the split. Pure: no I/O.

Rows use Open R1 Math's columns: `problem`, `answer` (the gold) and an optional worked `solution`; rows
of a reasoning-gym task also carry the `task` and its `metadata`, which its verifier reads. Every dropped
row is counted under a reason, so the prepare stage can report where the data went.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from rlvr.data.gym import SAFE_TASKS
from rlvr.hashing import short_hash

CLEAN_REASONS = ("not_a_mapping", "non_string_field", "empty_problem", "missing_answer")
DROP_REASONS = (*CLEAN_REASONS, "duplicate", "unverifiable_answer", "prompt_too_long")


def clean_rows(rows: Iterable[Mapping]) -> tuple[list[dict], Counter]:
    """Rows with a non-empty `problem` and `answer` and a string or absent `solution`, reduced to those
    three columns and stripped (`solution` is "" when absent), and the drops by reason (the first
    reason of `CLEAN_REASONS` that applies). A numeric answer (`42` in a JSON or Parquet file) is kept
    as its text. A row with a `task` (a string) keeps it and its `metadata` (a mapping) as they are.

    >>> clean_rows([{"problem": "6 * 7?", "answer": 42}, {"problem": "?", "answer": True}])
    ([{'problem': '6 * 7?', 'answer': '42', 'solution': ''}], Counter({'non_string_field': 1}))
    >>> clean_rows([{"problem": "1 + 4 =", "answer": "5", "task": "chain_sum", "metadata": {"a": 1}}])[0]
    [{'problem': '1 + 4 =', 'answer': '5', 'solution': '', 'task': 'chain_sum', 'metadata': {'a': 1}}]
    """
    kept: list[dict] = []
    drops: Counter = Counter()
    for row in rows:
        reason = _drop_reason(row)
        if reason:
            drops[reason] += 1
            continue
        clean = {
            "problem": row["problem"].strip(),
            "answer": str(row["answer"]).strip(),
            "solution": (row.get("solution") or "").strip(),
        }
        if row.get("task") is not None:
            clean |= {"task": row["task"], "metadata": row.get("metadata") or {}}
        kept.append(clean)
    return kept, drops


def _drop_reason(row: object) -> str | None:
    if not isinstance(row, Mapping):
        return "not_a_mapping"
    problem, answer, solution = row.get("problem"), row.get("answer"), row.get("solution")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    task, metadata = row.get("task"), row.get("metadata")
    if any(value is not None and not isinstance(value, str) for value in (problem, answer, solution, task)):
        return "non_string_field"
    if task is not None and metadata is not None and not isinstance(metadata, Mapping):
        return "non_string_field"
    if not (problem or "").strip():
        return "empty_problem"
    if not (answer or "").strip():
        return "missing_answer"
    return None


def normalise(problem: str) -> str:
    """The problem as compared for duplicates, hashed for the split and for its id: format characters
    dropped (Unicode category Cf: zero-width spaces and joiners, bidi marks and overrides, the BOM, soft
    hyphens, invisible operators; nothing a reader sees), then NFKC, casefolded, whitespace collapsed. So
    copies that differ only in invisible characters, case, spacing or Unicode forms (full-width digits)
    are one problem, and can never sit in both the training and the held-out set.

    Casefolding can merge two problems that differ only in a letter's case (`A` and `a` as two variables):
    one of them is then dropped as a duplicate. That costs a row, where a case variant on each side of the
    split would cost the held-out measurement; and it keeps every problem's id and side of the split as
    they were.

    >>> normalise("What\u200b is 2\u202e + 3?\ufeff") == normalise("what is 2 + 3?")
    True
    """
    visible = "".join(c for c in problem if unicodedata.category(c) != "Cf")
    return " ".join(unicodedata.normalize("NFKC", visible).casefold().split())


def problem_id(problem: str) -> str:
    """A stable id of a problem (a hash of its normalised text): results of two models, or of two
    registered versions, are paired on it.

    >>> problem_id("What is 2 + 2?") == problem_id("what is  2 + 2?")
    True
    """
    return short_hash(normalise(problem))


def dedupe(rows: Iterable[dict]) -> tuple[list[dict], int]:
    """The first row of each normalised problem, and how many later copies were dropped."""
    seen: set[str] = set()
    kept: list[dict] = []
    dropped = 0
    for row in rows:
        key = normalise(row["problem"])
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(row)
    return kept, dropped


def is_heldout(problem: str, fraction: float, salt: str) -> bool:
    """Whether a problem belongs to the held-out set: decided by a hash of the normalised text alone, so
    the split does not move when rows are reordered, added or fetched again. A new salt gives a new
    split."""
    digest = hashlib.sha256((salt + normalise(problem)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def prompt_limit(lengths: list[int], budget: int, quantile: float | None) -> int:
    """The longest prompt kept, in tokens: the budget, or the `quantile` of the lengths when lower
    (numpy's linear quantile, rounded down, as the notebook computes it).

    >>> prompt_limit(list(range(1, 101)), budget=512, quantile=0.9), prompt_limit([10, 20], 15, None)
    (90, 15)
    """
    if quantile is None or not lengths:
        return budget
    import numpy as np

    return min(budget, int(np.quantile(lengths, quantile)))


@dataclass(frozen=True)
class Prepared:
    """The outcome of `prepare_rows`: the two sets and the drops by reason (every reason, zeros too)."""

    train: list[dict]
    heldout: list[dict]
    drops: dict[str, int]

    @property
    def counts(self) -> dict[str, int]:
        dropped = sum(self.drops.values())
        total = len(self.train) + len(self.heldout) + dropped
        return {"input": total, "dropped": dropped, "train": len(self.train), "heldout": len(self.heldout)}


def prepare_rows(
    rows: Iterable[Mapping],
    *,
    heldout_fraction: float,
    salt: str,
    is_verifiable: Callable[[str], bool],
    prompt_tokens: Callable[[str], int],
    max_prompt_tokens: int,
    max_prompt_quantile: float | None = None,
) -> Prepared:
    """Clean, dedupe, filter and split rows.

    Duplicates go before the split, so a held-out problem never has a copy in train. Then rows whose
    gold answer the reward cannot check (`is_verifiable(answer)` false; for a row of a reasoning-gym
    task, a task that is not on `rlvr.data.gym.SAFE_TASKS`, whose verifier is never called) and rows
    whose prompt is too long (`prompt_tokens(problem) > max_prompt_tokens`) are dropped. The caller
    supplies both checks (the reward's parser and a tokenizer), which keeps this module free of them;
    `prompt_tokens` gets the problem and is expected to count the whole prompt built around it. With
    `max_prompt_quantile` the limit is also that quantile of the verifiable prompts' lengths
    (`prompt_limit`), the way Unsloth's notebook keeps the shortest 90%.
    """
    clean, drops = clean_rows(rows)
    unique, duplicates = dedupe(clean)
    drops["duplicate"] = duplicates
    verifiable = []
    for row in unique:
        if row["task"] in SAFE_TASKS if "task" in row else is_verifiable(row["answer"]):
            verifiable.append((row, prompt_tokens(row["problem"])))
        else:
            drops["unverifiable_answer"] += 1
    limit = prompt_limit([n for _, n in verifiable], max_prompt_tokens, max_prompt_quantile)
    train: list[dict] = []
    heldout: list[dict] = []
    for row, length in verifiable:
        if length > limit:
            drops["prompt_too_long"] += 1
        elif is_heldout(row["problem"], heldout_fraction, salt):
            heldout.append(row)
        else:
            train.append(row)
    return Prepared(train=train, heldout=heldout, drops={reason: drops[reason] for reason in DROP_REASONS})
