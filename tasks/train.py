"""Stage `train`: GRPO with TRL on top of the SFT adapter (when one was trained) or the base model."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.checkpoints import fingerprint, train_and_publish
from rlvr.config import load_params
from rlvr.data import to_grpo_example
from rlvr.hardware import resolve_dtype, select_backend, select_generation
from rlvr.lineage import hash_path
from rlvr.models import has_adapter, load_trainable
from rlvr.rewards import build_rewards
from rlvr.sources import read_jsonl
from rlvr.tracking import live_metrics
from rlvr.trainers import build_grpo_trainer
from tasks import BASE, CHECKPOINTS, DATA, PARAMS, SFT, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    sft: Path = SFT,
    out: Path = typer.Option(..., help="Directory for the GRPO adapter."),
    log: Path = typer.Option(..., help="JSONL file for the per-step training log."),
    checkpoints: Path = CHECKPOINTS,
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    t = p.train
    backend = select_backend(t.backend)
    generation = select_generation(t.generation, backend)
    dtype = resolve_dtype(p.model.dtype)
    train_file = data / "train.jsonl"
    examples = [to_grpo_example(row, p.format) for row in read_jsonl(train_file)]
    adapter = sft if has_adapter(sft) else None
    run_id = fingerprint(
        "grpo",
        t,
        p.lora,
        dtype,
        p.format,
        backend,
        generation,
        hash_path(train_file),
        (base / "rlvr_base.json").read_text(),
        hash_path(adapter) if adapter else None,
    )
    model, tokenizer, peft_config = load_trainable(
        base,
        dtype,
        p.lora,
        adapter=adapter,
        backend=backend,
        max_seq_length=p.prepare.max_prompt_tokens + t.max_completion_length,
        gradient_checkpointing=t.gradient_checkpointing,
        fast_inference=generation == "vllm" and backend == "unsloth",
    )
    names = list(t.rewards)
    trainer = build_grpo_trainer(
        model,
        tokenizer,
        peft_config,
        examples,
        build_rewards(names, p.format),
        [t.rewards[name] for name in names],
        t,
        dtype,
        backend,
        generation,
        p.prepare.max_prompt_tokens,
        checkpoints / f"grpo-{run_id}",
    )
    tokens = t.batch_size * t.gradient_accumulation_steps * t.max_completion_length
    print(
        f"train: {backend} backend, {dtype}, generation with {generation}, "
        f"{t.max_steps} steps of up to {tokens} completion tokens each"
    )
    trainer.add_callback(live_metrics(trainer, p.tracking.completions_every))
    summary = train_and_publish(
        trainer,
        checkpoints / f"grpo-{run_id}",
        out,
        log,
        manifest={"stage": "grpo", "backend": backend, "base": str(base), "from_sft": adapter is not None},
    )
    print(f"train: {summary}")


if __name__ == "__main__":
    stage(main, track="grpo")
