"""GRPO step time: rlvr's training path against a plain TRL script with the same settings, and how the
step time grows with completions x tokens (starting from a fresh LoRA or from a trained SFT adapter).

    python -m benchmarks.grpo_step [--steps 3]

Both sides use the same model, prompts, reward functions and GRPOConfig values, so the difference is
rlvr's own wiring (config building, dataset formatting, the per-step JSONL log).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from benchmarks.common import embedded_model, grpo_examples, print_table, sft_examples, step_timer
from rlvr.config import LoraParams, SftParams, TrainParams
from rlvr.prompts import Markers
from rlvr.rewards import REWARDS, build_rewards
from rlvr.training import load_trainable, run_trainer, train_grpo, train_sft

LORA = LoraParams(r=16, alpha=32)


def rlvr_step(base: Path, params: TrainParams, adapter: Path | None, work: Path) -> float:
    model, tokenizer, peft_config = load_trainable(base, "float32", LORA, adapter, "trl", 512)
    names = list(REWARDS)
    trainer = train_grpo(
        model,
        tokenizer,
        peft_config,
        grpo_examples(64),
        build_rewards(names, Markers()),
        [1.0] * len(names),
        params,
        "float32",
        work / "ck",
        use_vllm=False,
    )
    timer = step_timer()
    trainer.add_callback(timer)
    run_trainer(trainer, work / "ck", work / "out", work / "log.jsonl", {})
    return timer.steady()


def plain_trl_step(base: Path, params: TrainParams, work: Path) -> float:
    """What a user would write with TRL alone."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    args = GRPOConfig(
        output_dir=str(work / "plain"),
        max_steps=params.max_steps,
        learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size,
        num_generations=params.num_generations,
        max_completion_length=params.max_completion_length,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
    )
    trainer = GRPOTrainer(
        model=model,
        args=args,
        reward_funcs=build_rewards(list(REWARDS), Markers()),
        train_dataset=Dataset.from_list(grpo_examples(64)),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=16, lora_alpha=32, target_modules=list(LORA.target_modules), task_type="CAUSAL_LM"
        ),
    )
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    return timer.steady()


def sft_adapter(base: Path, work: Path) -> Path:
    model, tokenizer, peft_config = load_trainable(base, "float32", LORA, None, "trl", 256)
    examples = sft_examples(64)
    trainer = train_sft(
        model, tokenizer, peft_config, examples, SftParams(max_steps=4), "float32", work / "s"
    )
    run_trainer(trainer, work / "s", work / "sft", work / "sft.jsonl", {})
    return work / "sft"


def main(steps: int = typer.Option(3, help="Steps per measurement; the first is left out as warm-up.")):
    base = embedded_model()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def params(completions: int, tokens: int) -> TrainParams:
            return TrainParams(
                max_steps=steps, batch_size=completions, num_generations=8, max_completion_length=tokens
            )

        plain = plain_trl_step(base, params(8, 64), work)
        ours = rlvr_step(base, params(8, 64), None, work / "a")
        rows.append(["plain TRL script, fresh LoRA", "8 x 64", f"{plain:.1f}", ""])
        rows.append(["rlvr, fresh LoRA", "8 x 64", f"{ours:.1f}", f"{100 * (ours / plain - 1):+.1f}%"])
        adapter = sft_adapter(base, work)
        for completions, tokens in ((8, 64), (16, 64), (16, 128)):
            seconds = rlvr_step(base, params(completions, tokens), adapter, work / f"b{completions}{tokens}")
            rows.append(["rlvr, from the SFT adapter", f"{completions} x {tokens}", f"{seconds:.1f}", ""])
    print_table(
        "GRPO step time (SmolLM2-135M, LoRA r=16, fp32)",
        ["setup", "completions x max tokens", "s/step (median)", "vs plain TRL"],
        rows,
    )


if __name__ == "__main__":
    typer.run(main)
