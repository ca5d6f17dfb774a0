"""Stage `train`: GRPO with TRL on top of the SFT adapter (when one was trained) or the base model."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config import load_params
from rlvr.data import to_grpo_example
from rlvr.lineage import hash_path
from rlvr.models import has_adapter
from rlvr.rewards import build_rewards
from rlvr.sources import read_jsonl
from rlvr.training import (
    fingerprint,
    load_trainable,
    run_trainer,
    select_backend,
    train_grpo,
    vllm_available,
)
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
    use_vllm = t.use_vllm and vllm_available()
    if t.use_vllm and not use_vllm:
        print("train: train.use_vllm is set but vLLM or a CUDA GPU is missing; generating with transformers")
    train_file = data / "train.jsonl"
    examples = [to_grpo_example(row, p.format) for row in read_jsonl(train_file)]
    adapter = sft if has_adapter(sft) else None
    run_id = fingerprint(
        "grpo",
        t,
        p.lora,
        p.model.dtype,
        p.format,
        backend,
        use_vllm,
        hash_path(train_file),
        (base / "rlvr_base.json").read_text(),
        hash_path(adapter) if adapter else None,
    )
    model, tokenizer, peft_config = load_trainable(
        base,
        p.model.dtype,
        p.lora,
        adapter=adapter,
        backend=backend,
        max_seq_length=p.prepare.max_prompt_tokens + t.max_completion_length,
    )
    names = list(t.rewards)
    trainer = train_grpo(
        model,
        tokenizer,
        peft_config,
        examples,
        build_rewards(names, p.format),
        [t.rewards[name] for name in names],
        t,
        p.model.dtype,
        checkpoints / f"grpo-{run_id}",
        use_vllm=use_vllm,
    )
    tokens = t.batch_size * t.gradient_accumulation_steps * t.max_completion_length
    print(f"train: {backend} backend, {t.max_steps} steps of up to {tokens} completion tokens each")
    summary = run_trainer(
        trainer,
        checkpoints / f"grpo-{run_id}",
        out,
        log,
        manifest={"stage": "grpo", "backend": backend, "base": str(base), "from_sft": adapter is not None},
    )
    print(f"train: {summary}")


if __name__ == "__main__":
    stage(main)
