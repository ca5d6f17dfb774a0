"""rlvr's held-out metrics as a Hugging Face `evaluate` metric: verified accuracy and format compliance.

The metric scores completions exactly as the evaluate stage does
(`rlvr.evaluation.scoring.score_completions`): a completion is correct when math-verify finds its solution
section equivalent to the reference (the `accuracy` reward), or, for a row of a reasoning-gym task, when the
task's own verifier gives it full marks (the `task_score` reward); formatted when it has exactly the taught
layout (`match_format_exactly`). It is loaded from the installed package, offline, like any local metric
script, and combines with other `evaluate` metrics:

    import evaluate
    from rlvr.evaluation.verified_math import PATH

    metric = evaluate.load(PATH, keep_in_memory=True)  # other markers: evaluate.load(PATH, markers={...})
    metric.compute(predictions=completions, references=golds)  # accuracy, format, correct, formatted
    evaluate.combine([metric, evaluate.load("exact_match")]).compute(predictions=..., references=...)

Rows of reasoning-gym tasks pass `tasks=[...]` and `metadata=[...]` (dicts or JSON text) to `compute`;
`None` for a row without a task. `correct` and `formatted` are the per-row verdicts, from which the
evaluate stage draws its intervals and paired comparisons.
"""

from __future__ import annotations

from importlib.resources import files

import datasets
import evaluate

from rlvr.config.schema import Markers
from rlvr.evaluation.scoring import score_completions

# The metric script inside the installed package, for `evaluate.load`.
PATH = str(files("rlvr.evaluation") / "verified_math.py")

_DESCRIPTION = "Verified accuracy (math-verify, or a reasoning-gym task's verifier) and format compliance."
_INPUTS = """
Args:
    predictions (list of str): completions, with their answer between the solution markers.
    references (list of str): the gold answers.
    tasks (list of str or None, optional): each row's reasoning-gym task (None: math-verify judges it).
    metadata (list of dict or str or None, optional): each task row's metadata, as made by rlvr's fetch.
Returns:
    accuracy (float): the share of correct completions.
    format (float): the share of completions in exactly the taught layout.
    correct (list of bool), formatted (list of bool): the verdict on each completion.
"""


class VerifiedMath(evaluate.Metric):
    """The metric; `markers` (the `format` params as a dict) when the model was taught other markers."""

    def __init__(self, *args, markers: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.markers = Markers(**(markers or {}))

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, tasks=None, metadata=None) -> dict:
        if not predictions:
            raise ValueError("verified_math: no predictions to score")
        lengths = [0] * len(predictions)
        scores = score_completions(predictions, references, lengths, self.markers, tasks, metadata)
        correct = [s["correct"] for s in scores]
        formatted = [s["formatted"] for s in scores]
        return {
            "accuracy": sum(correct) / len(correct),
            "format": sum(formatted) / len(formatted),
            "correct": correct,
            "formatted": formatted,
        }


def load(markers: Markers | None = None) -> evaluate.EvaluationModule:
    """The metric, loaded by `evaluate` from this file (offline: a local script), results kept in memory."""
    options = {"markers": markers.model_dump()} if markers is not None else {}
    return evaluate.load(PATH, keep_in_memory=True, **options)
