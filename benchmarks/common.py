"""What the benchmarks share: the embedded model on disk, problems, a step timer, a table printer."""

from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rlvr.config.schema import LoraParams, Markers, TrainParams
from rlvr.data.examples import to_grpo_example, to_sft_example
from rlvr.data.problems import make_problems
from rlvr.training.models import base_for_inference
from rlvr.verify.rewards import REWARDS, build_rewards

# The LoRA every benchmark trains: r=16 on every projection, as in the embedded default.
LORA = LoraParams(r=16, alpha=32)


def embedded_model() -> Path:
    """The pipeline's base model when `dvc repro model` made it, else the same model built in the cache."""
    local = Path("models/base")
    return local if (local / "config.json").is_file() else base_for_inference("embedded", None, "float32")


def problems(count: int, seed: int = 1) -> list[dict]:
    return make_problems(count, seed=seed, levels=[1])


def grpo_examples(count: int) -> list[dict]:
    return [to_grpo_example(row, Markers()) for row in problems(count)]


def sft_examples(count: int) -> list[dict]:
    return [to_sft_example(row, Markers()) for row in problems(count)]


def step_timer():
    """A TrainerCallback recording each optimizer step's wall time and, for GRPO, the mean completion
    length that step generated (its cost grows with completions x tokens)."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.lengths: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:  # the step's kernels are queued, not done, until the device catches up
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.started)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                self.lengths.append(logs["completions/mean_length"])

        def steady(self) -> float:
            """Median step time, the first (warm-up) step left out."""
            return statistics.median(self.times[1:] or self.times)

        def cycle_mean(self, steps_per_generation: int) -> float:
            """Mean step time over whole generation rounds, the first round left out as warm-up: with
            several steps per round, one step generates and the others reuse its completions."""
            return statistics.mean(self.times[steps_per_generation:] or self.times)

        def mean_length(self) -> float:
            """Mean completion length over the steps that `steady` counts."""
            return statistics.mean(self.lengths[1:] or self.lengths)

    return StepTimer()


def plain_trl_trainer(
    base: Path, params: TrainParams, examples: list[dict], work: Path, use_cpu: bool, cls: type | None = None
):
    """What a user would write with TRL and PEFT alone: TRL loads the model, and every GRPOConfig value
    not fixing the shape of a step (completions, group size, length, steps, seed) is TRL's default,
    gradient checkpointing and bf16 included. `cls`: a GRPOTrainer subclass (rlvr's, switches off, for its
    sampling timer)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(work / "plain"), max_steps=params.max_steps, learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size, num_generations=params.num_generations,
        max_completion_length=params.max_completion_length, seed=params.seed, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=use_cpu,
    )  # fmt: skip
    return (cls or GRPOTrainer)(
        model=str(base),
        args=args,
        reward_funcs=build_rewards(list(REWARDS), Markers()),
        train_dataset=Dataset.from_list(examples),
        peft_config=LoraConfig(
            r=LORA.r, lora_alpha=LORA.alpha, target_modules=LORA.target_modules, task_type="CAUSAL_LM"
        ),
    )


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """The table at its natural width even when written to a file or a pipe (rich would wrap it to 80
    columns there), so a log pasted into docs/benchmarks.md keeps its rows whole."""
    import torch

    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    console = Console(width=max(80, Console(width=1000).measure(table).maximum))
    console.print(table)
    console.print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU only'}"
    )
