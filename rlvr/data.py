"""From raw rows to the train and held-out sets, and from rows to TRL examples. Pure: no I/O.

Rows use Open R1 Math's columns: `problem`, `answer` (the gold) and an optional worked `solution`.
Every dropped row is counted under a reason, so the prepare stage can report where the data went.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from rlvr.prompts import Markers, chat_prompt, target_completion

CLEAN_REASONS = ("not_a_mapping", "non_string_field", "empty_problem", "missing_answer")
DROP_REASONS = (*CLEAN_REASONS, "duplicate", "unverifiable_answer", "prompt_too_long")


def clean_rows(rows: Iterable[Mapping]) -> tuple[list[dict], Counter]:
    """Rows with a non-empty `problem` and `answer` and a string or absent `solution`, reduced to those
    three columns and stripped (`solution` is "" when absent), and the drops by reason (the first
    reason of `CLEAN_REASONS` that applies)."""
    kept: list[dict] = []
    drops: Counter = Counter()
    for row in rows:
        reason = _drop_reason(row)
        if reason:
            drops[reason] += 1
            continue
        kept.append(
            {
                "problem": row["problem"].strip(),
                "answer": row["answer"].strip(),
                "solution": (row.get("solution") or "").strip(),
            }
        )
    return kept, drops


def _drop_reason(row: object) -> str | None:
    if not isinstance(row, Mapping):
        return "not_a_mapping"
    problem, answer, solution = row.get("problem"), row.get("answer"), row.get("solution")
    if any(value is not None and not isinstance(value, str) for value in (problem, answer, solution)):
        return "non_string_field"
    if not (problem or "").strip():
        return "empty_problem"
    if not (answer or "").strip():
        return "missing_answer"
    return None


def normalise(problem: str) -> str:
    """The problem as compared for duplicates and hashed for the split: NFKC, casefolded, whitespace
    collapsed, so copies that differ only in case, spacing or Unicode forms (full-width digits) match."""
    return " ".join(unicodedata.normalize("NFKC", problem).casefold().split())


def problem_id(problem: str) -> str:
    """A stable id of a problem (a hash of its normalised text), to pair one model's result on it with
    another's."""
    return hashlib.sha256(normalise(problem).encode()).hexdigest()[:16]


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
) -> Prepared:
    """Clean, dedupe, filter and split rows.

    Duplicates go before the split, so a held-out problem never has a copy in train. Then rows whose
    gold answer the reward cannot check (`is_verifiable(answer)` false) and rows whose prompt is too
    long (`prompt_tokens(problem) > max_prompt_tokens`) are dropped. The caller supplies both checks
    (the reward's parser and a tokenizer), which keeps this module free of them; `prompt_tokens` gets
    the problem and is expected to count the whole prompt built around it.
    """
    clean, drops = clean_rows(rows)
    unique, duplicates = dedupe(clean)
    drops["duplicate"] = duplicates
    train: list[dict] = []
    heldout: list[dict] = []
    for row in unique:
        if not is_verifiable(row["answer"]):
            drops["unverifiable_answer"] += 1
        elif prompt_tokens(row["problem"]) > max_prompt_tokens:
            drops["prompt_too_long"] += 1
        elif is_heldout(row["problem"], heldout_fraction, salt):
            heldout.append(row)
        else:
            train.append(row)
    return Prepared(train=train, heldout=heldout, drops={reason: drops[reason] for reason in DROP_REASONS})


def to_grpo_example(row: Mapping, markers: Markers) -> dict:
    """A row as a GRPOTrainer example: the chat prompt, plus `answer` and `problem`, which TRL passes on
    to the reward functions as keyword arguments."""
    problem = row["problem"]
    return {"prompt": chat_prompt(problem, markers), "answer": row["answer"], "problem": problem}


def to_sft_example(row: Mapping, markers: Markers) -> dict | None:
    """A row as a conversational prompt-completion example for the SFT warm-up, whose target is the
    worked solution and answer in the marker format; None when the row has no solution to teach."""
    if not row.get("solution"):
        return None
    completion = target_completion(row["solution"], row["answer"], markers)
    return {
        "prompt": chat_prompt(row["problem"], markers),
        "completion": [{"role": "assistant", "content": completion}],
    }
