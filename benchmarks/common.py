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

from rlvr.data import to_grpo_example, to_sft_example
from rlvr.generator import generate
from rlvr.models import base_for_inference
from rlvr.prompts import Markers


def embedded_model() -> Path:
    """The pipeline's base model when `dvc repro model` made it, else the same model built in the cache."""
    local = Path("models/base")
    return local if (local / "config.json").is_file() else base_for_inference("embedded", None, "float32")


def problems(count: int, seed: int = 1) -> list[dict]:
    return generate(count, seed=seed, levels=[1])


def grpo_examples(count: int) -> list[dict]:
    return [to_grpo_example(row, Markers()) for row in problems(count)]


def sft_examples(count: int) -> list[dict]:
    return [to_sft_example(row, Markers()) for row in problems(count)]


def step_timer():
    """A TrainerCallback recording each optimizer step's wall time and, for GRPO, the mean completion
    length that step generated (its cost grows with completions x tokens)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.lengths: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.started)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                self.lengths.append(logs["completions/mean_length"])

        def steady(self) -> float:
            """Median step time, the first (warm-up) step left out."""
            return statistics.median(self.times[1:] or self.times)

        def mean_length(self) -> float:
            """Mean completion length over the steps that `steady` counts."""
            return statistics.mean(self.lengths[1:] or self.lengths)

    return StepTimer()


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    import torch

    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU only'}"
    )
