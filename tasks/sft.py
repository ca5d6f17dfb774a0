"""Stage `sft`: the optional format warm-up, a LoRA adapter trained on worked solutions.

With `sft.max_steps: 0` the stage writes a manifest that says so and no adapter; `train` then starts
from the base model.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlvr.checkpoints import MANIFEST, fingerprint, train_and_publish
from rlvr.config import load_params
from rlvr.data import to_sft_example
from rlvr.errors import DataError
from rlvr.hardware import resolve_dtype, select_backend
from rlvr.lineage import hash_path
from rlvr.models import load_tokenizer, load_trainable
from rlvr.prompts import prompt_ids
from rlvr.sources import read_jsonl
from rlvr.tracking import live_metrics
from rlvr.trainers import build_sft_trainer
from tasks import BASE, CHECKPOINTS, DATA, PARAMS, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    out: Path = typer.Option(..., help="Directory for the SFT adapter."),
    log: Path = typer.Option(..., help="JSONL file for the per-step training log."),
    checkpoints: Path = CHECKPOINTS,
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    if p.sft.max_steps == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text(json.dumps({"trained": False, "reason": "sft.max_steps is 0"}) + "\n")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        print("sft: skipped (sft.max_steps is 0)")
        return
    train_file = data / "train.jsonl"
    examples = [e for row in read_jsonl(train_file) if (e := to_sft_example(row, p.format))]
    if not examples:
        raise DataError(
            f"sft.max_steps is {p.sft.max_steps} but no row of {train_file} has a worked solution; "
            "set sft.max_steps: 0 or use a data source with a `solution` column"
        )
    backend = select_backend(p.train.backend)
    dtype = resolve_dtype(p.model.dtype)
    tokenizer = load_tokenizer(base)
    prompt_lengths = [len(prompt_ids(tokenizer, e["prompt"])) for e in examples]
    if min(prompt_lengths) >= p.sft.max_length:
        raise DataError(
            f"every SFT prompt is at least sft.max_length={p.sft.max_length} tokens long (shortest: "
            f"{min(prompt_lengths)}), so no completion token is left to learn from; raise sft.max_length"
        )
    base_manifest = (base / "rlvr_base.json").read_text()
    run_id = fingerprint("sft", p.sft, p.lora, dtype, p.format, backend, hash_path(train_file), base_manifest)
    model, tokenizer, peft_config = load_trainable(
        base,
        dtype,
        p.lora,
        adapter=None,
        backend=backend,
        max_seq_length=p.sft.max_length,
        gradient_checkpointing=p.sft.gradient_checkpointing,
    )
    trainer = build_sft_trainer(
        model, tokenizer, peft_config, examples, p.sft, dtype, backend, checkpoints / f"sft-{run_id}"
    )
    trainer.add_callback(live_metrics(trainer))
    summary = train_and_publish(
        trainer,
        checkpoints / f"sft-{run_id}",
        out,
        log,
        manifest={"stage": "sft", "backend": backend, "base": str(base), "examples": len(examples)},
    )
    print(f"sft: {summary}")


if __name__ == "__main__":
    stage(main, track="sft")
