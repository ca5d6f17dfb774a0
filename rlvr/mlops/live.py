"""Training metrics streamed live into the active MLflow run, GRPO's sampled completions as tables, and
the warnings of a run that stalls (`rlvr.training.stalls`) as they appear."""

from __future__ import annotations

import math
import sys

from rlvr.mlops.runs import metric_name
from rlvr.training.stalls import stalls

# TRL's clip ratios are zero whenever the completions come from the policy being updated (one optimizer
# step per generation, the default: the importance ratio is 1), so five charts would open on flat zeros.
# They reach MLflow from the first step one is not, with the zeros logged before it.
LOGGED_ONCE_NONZERO = "clip_ratio/"


def live_metrics(trainer, completions_every: int = 0):
    """A TrainerCallback that streams each logged step into the active MLflow run (TRL's clip ratios from
    their first nonzero step: `LOGGED_ONCE_NONZERO`) and, every
    `completions_every` steps of a GRPO trainer, a table of the completions it just sampled (the buffer
    TRL's `log_completions` prints from), without printing them. When the steps logged so far stall (most
    completions clipped, or most groups tied, for several steps running), it says so once per kind on
    stderr and, in a tracked stage, as an MLflow tag `warning.<kind>`. Outside a tracked stage it logs
    nothing to MLflow; a tracking server that fails mid-training costs a warning, never the training."""
    from transformers import TrainerCallback

    class LiveMetrics(TrainerCallback):
        failed = False

        def __init__(self) -> None:
            self.steps: list[dict] = []
            self.warned: set[str] = set()
            self.nonzero: set[str] = set()  # the LOGGED_ONCE_NONZERO metrics logged since

        def on_log(self, args, state, control, logs=None, **kwargs):
            import mlflow

            self.steps.append({**(logs or {}), "step": state.global_step})
            new = {kind: text for kind, text in stalls(self.steps).items() if kind not in self.warned}
            for kind, text in new.items():
                self.warned.add(kind)
                print(f"warning: {text}", file=sys.stderr, flush=True)
            if mlflow.active_run() is None or self.failed:
                return
            numbers = {
                metric_name(k): float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
            held = {key for key in numbers if key.startswith(LOGGED_ONCE_NONZERO) and key not in self.nonzero}
            first = {key for key in held if numbers[key] != 0}
            numbers = {key: value for key, value in numbers.items() if key not in held - first}
            try:
                for row in self.steps[:-1]:  # the zeros before a clip ratio's first nonzero step
                    if zeros := {key: 0.0 for key in first if row.get(key) == 0}:
                        mlflow.log_metrics(zeros, step=row["step"])
                self.nonzero |= first
                mlflow.log_metrics(numbers, step=state.global_step)
                for kind, text in new.items():
                    mlflow.set_tag(f"warning.{kind}", text)
                due = completions_every and state.global_step % completions_every == 0
                if due and "train_runtime" not in numbers:
                    self.log_completions(state.global_step)
            except Exception as exc:  # whatever the tracking store's failure, training goes on
                self.failed = True
                print(f"warning: MLflow logging stopped ({exc}); training goes on", file=sys.stderr)

        def log_completions(self, step: int) -> None:
            import mlflow
            import pandas as pd

            from rlvr.verify.parsing import completion_text

            buffer = trainer.sampled_completions()
            if not buffer["prompt"]:
                return
            rows = {
                "step": [step] * len(buffer["prompt"]),
                "prompt": [_last_message(p) for p in buffer["prompt"]],
                "completion": [completion_text(c) for c in buffer["completion"]],
                **{f"reward/{name}": list(values) for name, values in buffer["rewards"].items()},
                "advantage": list(buffer["advantages"]),
            }
            mlflow.log_table(pd.DataFrame(rows), artifact_file="completions.json")

    return LiveMetrics()


def _last_message(prompt: object) -> str:
    """The question of a chat prompt (its last message), or the prompt itself when it is text."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        return str(prompt[-1].get("content", ""))
    return str(prompt)


def log_point(point: dict) -> None:
    """A learning-curve point (`rlvr.evaluation.curves`) into the active MLflow run, as `heldout/accuracy`
    and `heldout/format` at its step; outside a tracked stage nothing, and a store that fails costs a
    warning, never the training."""
    import mlflow

    if mlflow.active_run() is None:
        return
    try:
        mlflow.log_metrics(
            {"heldout/accuracy": point["accuracy"], "heldout/format": point["format"]}, step=point["step"]
        )
    except Exception as exc:  # whatever the tracking store's failure, training goes on
        print(
            f"warning: MLflow did not take a learning-curve point ({exc}); training goes on", file=sys.stderr
        )
