"""Per-problem held-out predictions (`eval/predictions.jsonl`): one model's results, a fingerprint of the
problem set, and the models side by side. Pure: no I/O; `rlvr.evaluation.report` renders them.

Records carry `id` (`rlvr.data.prepare.problem_id` of the problem), so results of two models, or of two
registered versions, pair up by problem rather than by position.
"""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.data.prepare import problem_id
from rlvr.hashing import short_hash


def record_id(record: dict) -> str:
    return record.get("id") or problem_id(record["problem"])


def model_results(records: Sequence[dict], model: str) -> list[dict]:
    """One model's results, reduced to what pairs and re-scores them: id, problem, answer, correct.

    >>> model_results([{"model": "grpo", "problem": "1+1", "answer": "2", "correct": True, "tokens": 9},
    ...                {"model": "base", "problem": "1+1", "answer": "2", "correct": False}], "grpo")
    [{'id': '4a1b21d876ae00c8', 'problem': '1+1', 'answer': '2', 'correct': True}]
    """
    return [
        {"id": record_id(r), "problem": r["problem"], "answer": r["answer"], "correct": bool(r["correct"])}
        for r in records
        if r["model"] == model
    ]


def set_fingerprint(ids: Sequence[str]) -> str:
    """A short hash of a held-out set (of its problem ids, in any order): equal fingerprints, same set.

    >>> set_fingerprint(["b", "a"]) == set_fingerprint(["a", "b", "a"]), len(set_fingerprint(["a"]))
    (True, 16)
    """
    return short_hash("\n".join(sorted(set(ids))))


def change(before: bool, after: bool) -> str:
    """`fixed`, `broken` or `` for one problem between two models."""
    return "fixed" if after and not before else "broken" if before and not after else ""


def side_by_side(
    records: Sequence[dict], models: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> list[dict]:
    """One row per held-out problem: each model's completion and correctness next to each other, and per
    pair (from, to) whether `to` fixed or broke the answer of `from`. Rows keep the problems' order.

    >>> rows = side_by_side(
    ...     [{"model": m, "problem": "1+1", "answer": "2", "completion": c, "correct": ok}
    ...      for m, c, ok in (("base", "3", False), ("grpo", "2", True))],
    ...     ["base", "grpo"], [("base", "grpo")])
    >>> rows[0]["base_vs_grpo"], rows[0]["grpo_completion"], rows[0]["base_correct"]
    ('fixed', '2', False)
    """
    by_problem: dict[str, dict] = {}
    for r in records:
        row = by_problem.setdefault(
            record_id(r), {"id": record_id(r), "problem": r["problem"], "answer": r["answer"]}
        )
        row[f"{r['model']}_completion"] = r.get("completion", "")
        row[f"{r['model']}_correct"] = bool(r["correct"])
    rows = []
    for row in by_problem.values():
        for model in models:
            row.setdefault(f"{model}_completion", None)
            row.setdefault(f"{model}_correct", None)
        for a, b in pairs:
            known = row[f"{a}_correct"] is not None and row[f"{b}_correct"] is not None
            row[f"{a}_vs_{b}"] = change(row[f"{a}_correct"], row[f"{b}_correct"]) if known else ""
        rows.append(row)
    return rows


def models_and_pairs(evaluation: dict) -> tuple[list[str], list[tuple[str, str]]]:
    """The models of eval.json in its order, and the pairs it compares (its `comparisons`, else each
    model against the one before it).

    >>> models_and_pairs({"base": {}, "sft": {}, "grpo": {}, "comparisons": [{"from": "base", "to": "grpo"}]})
    (['base', 'sft', 'grpo'], [('base', 'grpo')])
    >>> models_and_pairs({"base": {}, "grpo": {}})
    (['base', 'grpo'], [('base', 'grpo')])
    """
    models = [name for name, values in evaluation.items() if isinstance(values, dict)]
    comparisons = evaluation.get("comparisons")
    if isinstance(comparisons, list) and comparisons:
        return models, [(c["from"], c["to"]) for c in comparisons]
    return models, list(zip(models, models[1:], strict=False))
