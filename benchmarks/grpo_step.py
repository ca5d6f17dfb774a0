"""The cost of a GRPO step on this machine's CPU: a plain TRL script with TRL's default GRPOConfig against
rlvr's train stage, per generated token.

    python -m benchmarks.grpo_step [--steps 3]

Both sides train the embedded model (SmolLM2-135M-Instruct) with a fresh LoRA (r=16, every projection)
on the same prompts with the same seed, and the same shape of step: 8 completions (1 prompt x 8) of up to
64 tokens. The plain script sets only that shape; everything else is TRL's default (bf16, gradient
checkpointing). rlvr's side is the real `tasks.train` stage on the embedded default's params, in a
process of its own. Each step's time comes from TRL's own `step_time` log; a step's cost per token is
that time over the completion tokens it generated, and each side's cost is the median over its steps
after the first (warm-up). The last line printed is `rlvr/trl cost per token: <ratio>`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import typer
import yaml

from benchmarks.common import embedded_model, grpo_examples, plain_trl_trainer, print_table
from rlvr.config.schema import TrainParams

SHAPE = dict(batch_size=8, num_generations=8, max_completion_length=64)


def plain_trl(base: Path, steps: int, out: Path) -> None:
    """The plain TRL side, in this process: its log history goes to `out`."""
    params = TrainParams(**SHAPE, max_steps=steps)
    trainer = plain_trl_trainer(base, params, grpo_examples(64), out.parent, use_cpu=True)
    trainer.train()
    out.write_text(json.dumps(trainer.state.log_history))


def rlvr_stage(base: Path, steps: int, work: Path) -> list[dict]:
    """rlvr's train stage on the embedded default's params, with the benchmark's shape of step."""
    from rlvr.data.problems import make_problems
    from rlvr.files import read_log, write_jsonl

    write_jsonl(make_problems(64, seed=1, levels=[1]), work / "data" / "train.jsonl")
    (work / "sft").mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump({"train": {**SHAPE, "max_steps": steps}}))
    command = [
        sys.executable, "-m", "tasks.train", "--params", str(work / "params.yaml"),
        "--data", str(work / "data"), "--base", str(base), "--sft", str(work / "sft"),
        "--out", str(work / "grpo"), "--log", str(work / "grpo.json"), "--checkpoints", str(work / "ck"),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return read_log(work / "grpo.json")


def cost(log: list[dict]) -> tuple[float, float, float]:
    """(median s/step, mean completion tokens, median ms per generated token), the first step left out."""
    rows = [row for row in log if "step_time" in row and "completions/mean_length" in row][1:]
    per_token = [
        1000 * row["step_time"] / (SHAPE["batch_size"] * row["completions/mean_length"]) for row in rows
    ]
    return (
        statistics.median(row["step_time"] for row in rows),
        statistics.mean(row["completions/mean_length"] for row in rows),
        statistics.median(per_token),
    )


def main(
    steps: int = typer.Option(3, help="Steps per side; the first is left out as warm-up."),
    side: str = typer.Option("", hidden=True),
    out: Path = typer.Option(None, hidden=True),
) -> None:
    base = embedded_model()
    if side == "trl":
        plain_trl(base, steps, out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.grpo_step", "--side", "trl", "--steps", str(steps),
             "--out", str(work / "trl.json")],
            check=True,
        )  # fmt: skip
        trl_log = json.loads((work / "trl.json").read_text())
        rlvr_log = rlvr_stage(base, steps, work / "rlvr")
    trl, ours = cost(trl_log), cost(rlvr_log)
    rows = [
        [name, f"{c[0]:.1f}", f"{c[1]:.1f}", f"{c[2]:.0f}"]
        for name, c in (
            ("plain TRL, TRL's default GRPOConfig", trl),
            ("rlvr train stage (embedded default)", ours),
        )
    ]
    print_table(
        "GRPO step on CPU (SmolLM2-135M, LoRA r=16, 8 completions x <= 64 tokens)",
        ["setup", "s/step (median)", "mean completion tokens", "ms per generated token"],
        rows,
    )
    print(f"rlvr/trl cost per token: {ours[2] / trl[2]:.2f}")


if __name__ == "__main__":
    typer.run(main)
