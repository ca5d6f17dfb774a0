"""GRPO step time: rlvr's training path against a plain TRL script with the same settings, and how the
step time grows with completions x tokens (from a fresh LoRA, and from a trained SFT adapter, which is
how the pipeline runs by default).

    python -m benchmarks.grpo_step [--steps 4] [--growth/--no-growth]

Both sides use the same model, prompts, seed, reward functions and GRPOConfig values, so the difference
is rlvr's own wiring (config building, dataset formatting, the per-step JSONL log). Sampled completions
differ in length from step to step, so the table also gives the cost per generated token.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from benchmarks.common import embedded_model, grpo_examples, print_table, sft_examples, step_timer
from rlvr.checkpoints import train_and_publish
from rlvr.config import LoraParams, SftParams, TrainParams
from rlvr.models import load_trainable
from rlvr.prompts import Markers
from rlvr.rewards import REWARDS, build_rewards
from rlvr.trainers import build_grpo_trainer, build_sft_trainer

LORA = LoraParams(r=16, alpha=32)


def rlvr_grpo(base: Path, params: TrainParams, adapter: Path | None, work: Path):
    model, tokenizer, peft_config = load_trainable(base, "float32", LORA, adapter, "trl", 512)
    names = list(REWARDS)
    rewards = build_rewards(names, Markers())
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, grpo_examples(64), rewards, [1.0] * len(names), params, "float32",
        "trl", "generate", 256, work / "ck",
    )  # fmt: skip
    timer = step_timer()
    trainer.add_callback(timer)
    train_and_publish(trainer, work / "ck", work / "out", work / "log.jsonl", {})
    return timer


def plain_trl_grpo(base: Path, params: TrainParams, work: Path):
    """What a user would write with TRL and PEFT alone."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(work / "plain"), max_steps=params.max_steps, learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size, num_generations=params.num_generations,
        max_completion_length=params.max_completion_length, lr_scheduler_type="constant", seed=params.seed,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(base, dtype="float32"),
        args=args,
        reward_funcs=build_rewards(list(REWARDS), Markers()),
        train_dataset=Dataset.from_list(grpo_examples(64)),
        processing_class=AutoTokenizer.from_pretrained(base),
        peft_config=LoraConfig(
            r=16, lora_alpha=32, target_modules=LORA.target_modules, task_type="CAUSAL_LM"
        ),
    )
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    return timer


def sft_adapter(base: Path, work: Path) -> Path:
    model, tokenizer, peft_config = load_trainable(base, "float32", LORA, None, "trl", 256)
    examples = sft_examples(64)
    trainer = build_sft_trainer(
        model, tokenizer, peft_config, examples, SftParams(max_steps=4), "float32", "trl", work / "s"
    )
    train_and_publish(trainer, work / "s", work / "sft", work / "sft.jsonl", {})
    return work / "sft"


def ms_per_token(params: TrainParams, timer) -> float:
    """A step's milliseconds per generated completion token."""
    return 1000 * timer.steady() / (params.batch_size * timer.mean_length())


def row(setup: str, params: TrainParams, timer, baseline: float | None = None) -> list[str]:
    per_token = ms_per_token(params, timer)
    versus = f"{100 * (per_token / baseline - 1):+.1f}%" if baseline else ""
    shape = f"{params.batch_size} x {params.max_completion_length}"
    return [setup, shape, f"{timer.steady():.1f}", f"{timer.mean_length():.1f}", f"{per_token:.0f}", versus]


def main(
    steps: int = typer.Option(4, help="Steps per measurement; the first is left out as warm-up."),
    growth: bool = typer.Option(True, help="Also measure larger steps, starting from an SFT adapter."),
) -> None:
    base = embedded_model()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def params(completions: int, tokens: int) -> TrainParams:
            return TrainParams(
                max_steps=steps, batch_size=completions, num_generations=8, max_completion_length=tokens
            )

        plain = plain_trl_grpo(base, params(8, 64), work)
        rows.append(row("plain TRL script, fresh LoRA", params(8, 64), plain))
        baseline = ms_per_token(params(8, 64), plain)
        rows.append(
            row("rlvr, fresh LoRA", params(8, 64), rlvr_grpo(base, params(8, 64), None, work / "a"), baseline)
        )
        if growth:
            adapter = sft_adapter(base, work)
            for completions, tokens in ((8, 64), (16, 64), (16, 128)):
                timer = rlvr_grpo(
                    base, params(completions, tokens), adapter, work / f"b{completions}x{tokens}"
                )
                rows.append(row("rlvr, from the SFT adapter", params(completions, tokens), timer))
    print_table(
        "GRPO step time (SmolLM2-135M, LoRA r=16, fp32)",
        ["setup", "completions x max tokens", "s/step", "mean completion tokens", "ms per completion token",
         "vs plain TRL (per token)"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
