"""SFT step time in float32 against bfloat16 on this machine's CPU (why the embedded profile uses fp32).

python -m benchmarks.sft_dtype [--steps 2]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from benchmarks.common import embedded_model, print_table, sft_examples, step_timer
from rlvr.config.schema import LoraParams, SftParams
from rlvr.training.models import load_trainable
from rlvr.training.trainers import build_sft_trainer


def main(steps: int = typer.Option(3, help="Steps per dtype; the first is left out as warm-up.")) -> None:
    base = embedded_model()
    rows = []
    for dtype in ("float32", "bfloat16"):
        with tempfile.TemporaryDirectory() as tmp:
            model, tokenizer, peft_config = load_trainable(base, dtype, LoraParams(), None, "trl", 256)
            trainer = build_sft_trainer(
                model, tokenizer, peft_config, sft_examples(64), SftParams(max_steps=steps), dtype, "trl",
                Path(tmp),
            )  # fmt: skip
            timer = step_timer()
            trainer.add_callback(timer)
            trainer.train()
            rows.append([dtype, f"{timer.steady():.1f}"])
    print_table("SFT step time (SmolLM2-135M, LoRA r=16, batch 8)", ["dtype", "s/step (median)"], rows)


if __name__ == "__main__":
    typer.run(main)
