"""The learning curve: held-out accuracy measured while a model trains, against its step and its minutes.

Whether GRPO helps depends on how long it runs: a run judged only at its end cannot say whether it was
still climbing, had flattened or had started to fall. Every `every` optimizer steps (and before the first,
and after the last), the callback decodes a fixed set of held-out problems greedily, as the evaluate stage
decodes them (`rlvr.training.decoding.generate`, batched), scores them as the evaluate stage scores them
(`rlvr.evaluation.scoring.score_completions`), and appends a point: the step, the training minutes so far
(the curve's own decoding left out, so a curve's minutes are the training's), accuracy and format
compliance. The points go to a JSONL file beside the run's checkpoints, so a resumed run keeps the points
of the steps it kept and measures the rest; the stage turns them into `logs/curve_<stage>.json` for
`dvc plots` and hands each point to `on_point` (the stage's MLflow run).

The model is decoded through its unmerged adapter (merging would end its training) and put back in
training mode after. Off (`every: 0`) the stage adds no callback, so it costs nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rlvr.config.schema import Markers
from rlvr.data.prompts import chat_prompt
from rlvr.evaluation.scoring import score_completions, summarise
from rlvr.training.checkpoints import kept_log
from rlvr.training.decoding import generate


def due(step: int, every: int, max_steps: int) -> bool:
    """Whether a point is due after optimizer step `step`: every `every` steps, and at the last.

    >>> [s for s in range(13) if due(s, 4, 12)], [s for s in range(8) if due(s, 5, 7)]
    ([0, 4, 8, 12], [0, 5, 7])
    """
    return step % every == 0 or step == max_steps


def measure(model, tokenizer, rows: Sequence[dict], markers: Markers, max_new_tokens: int, batch_size: int):
    """Greedy accuracy and format compliance of `model` on `rows`, decoded and scored as the evaluate stage
    does, the adapter left unmerged, and the model and tokenizer left as they were."""
    training, padding_side = model.training, tokenizer.padding_side
    completions, lengths = generate(
        model,
        tokenizer,
        [chat_prompt(row["problem"], markers) for row in rows],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        desc="learning curve",
        keep_adapter=True,
    )
    model.train(training)
    tokenizer.padding_side = padding_side  # decoding pads on the left; the trainer's collator may not
    scores = score_completions(
        completions,
        [row["answer"] for row in rows],
        lengths,
        markers,
        [row.get("task") for row in rows],
        [row.get("metadata") for row in rows],
    )
    summary = summarise(scores)
    return {"accuracy": summary["accuracy"], "format": summary["format"]}, completions


def learning_curve(
    tokenizer,
    rows: Sequence[dict],
    markers: Markers,
    every: int,
    max_new_tokens: int,
    batch_size: int,
    path: Path,
    resume_step: int,
    on_point: Callable[[dict], None] = lambda point: None,
):
    """A TrainerCallback that measures the curve (module docstring) on `rows`, appending each point to
    `path` (the points a killed run measured after `resume_step` are dropped first)."""
    from transformers import TrainerCallback

    points = [json.loads(line) for line in kept_log(path, resume_step)] if path.is_file() else []
    path.write_text("".join(json.dumps(point) + "\n" for point in points))

    class LearningCurve(TrainerCallback):
        def __init__(self) -> None:
            self.points = points
            self.minutes = points[-1]["minutes"] if points else 0.0
            self.since = time.perf_counter()

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.since = time.perf_counter()
            if not any(point["step"] == state.global_step for point in self.points):
                self.add(model, state.global_step)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if due(state.global_step, every, state.max_steps):
                self.add(model, state.global_step)

        def add(self, model, step: int) -> None:
            self.minutes += (time.perf_counter() - self.since) / 60
            started = time.perf_counter()
            measured, _ = measure(model, tokenizer, rows, markers, max_new_tokens, batch_size)
            point = {"step": step, "minutes": round(self.minutes, 3), **measured, "problems": len(rows)}
            point["curve_s"] = round(time.perf_counter() - started, 2)
            self.points.append(point)
            with path.open("a") as file:
                file.write(json.dumps(point) + "\n")
            on_point(point)
            self.since = time.perf_counter()

    return LearningCurve()
