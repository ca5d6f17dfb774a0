"""Training metrics streamed live into the active MLflow run, and GRPO's sampled completions as tables."""

from __future__ import annotations

import math
import sys

from rlvr.mlops.runs import metric_name


def live_metrics(trainer, completions_every: int = 0):
    """A TrainerCallback that streams each logged step into the active MLflow run and, every
    `completions_every` steps of a GRPO trainer, a table of the completions it just sampled (the buffer
    TRL's `log_completions` prints from), without printing them. Outside a tracked stage it does nothing.
    A tracking server that fails mid-training costs a warning, never the training."""
    from transformers import TrainerCallback

    class LiveMetrics(TrainerCallback):
        failed = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            import mlflow

            if mlflow.active_run() is None or self.failed:
                return
            numbers = {
                metric_name(k): float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
            try:
                mlflow.log_metrics(numbers, step=state.global_step)
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

            buffer = getattr(trainer, "_logs", None)
            if not buffer or not buffer.get("prompt"):
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
