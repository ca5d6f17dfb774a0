"""Stage `sft`: the optional format warm-up, a LoRA adapter trained on worked solutions.

With `sft.max_steps: 0` the stage writes a manifest that says so and no adapter; `train` then starts
from the base model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.data.examples import sft_examples
from rlvr.data.prompts import conversation_ids, format_template, template_problems
from rlvr.errors import DataError
from rlvr.files import BASE_MANIFEST, TRAIN_SET, read_jsonl
from rlvr.hashing import hash_path
from rlvr.mlops.live import live_metrics
from rlvr.mlops.runs import stage_run
from rlvr.training.checkpoints import fingerprint, train_and_publish
from rlvr.training.hardware import resolve_dtype, select_backend
from rlvr.training.models import load_tokenizer, load_trainable, stop_ids
from rlvr.training.trainers import build_sft_trainer
from tasks import BASE, CHECKPOINTS, DATA, PARAMS, relaunched, skipped, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    out: Path = typer.Option(..., help="Directory for the SFT adapter."),
    log: Path = typer.Option(..., help="JSON file for the per-step training log."),
    checkpoints: Path = CHECKPOINTS,
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    if p.sft.max_steps == 0:
        skipped(out, log, "sft.max_steps is 0", stage="sft")
        print("sft: skipped (sft.max_steps is 0)")
        return
    train_file = data / TRAIN_SET
    tokenizer = format_template(load_tokenizer(base), p.format)
    examples, left_out = sft_examples(
        read_jsonl(train_file),
        p.format,
        lambda example: len(conversation_ids(tokenizer, example["prompt"] + example["completion"])),
        p.sft.max_length,
    )
    if not examples:
        raise DataError(
            f"sft.max_steps is {p.sft.max_steps} but no row of {train_file} makes an SFT example (left out: "
            f"{left_out}): a row needs a worked solution, and prompt and solution must fit in "
            f"sft.max_length={p.sft.max_length} tokens; set sft.max_steps: 0, use a data source with a "
            "`solution` column, or raise sft.max_length"
        )
    if p.sft.max_examples is not None and len(examples) > p.sft.max_examples:
        left_out["over_max_examples"] = len(examples) - p.sft.max_examples
        examples = examples[: p.sft.max_examples]
    print(f"sft: {len(examples)} examples; left out: {left_out}")
    if relaunched(p.distributed):
        return
    with stage_run("sft", params) as run:
        backend = select_backend(p.train.backend)
        dtype = resolve_dtype(p.model.dtype)
        base_manifest = (base / BASE_MANIFEST).read_text()
        run_id = fingerprint(
            "sft", p.sft, p.lora, dtype, p.format, backend, hash_path(train_file), base_manifest
        )
        model, tokenizer, peft_config = load_trainable(
            base,
            dtype,
            p.lora,
            adapter=None,
            backend=backend,
            max_seq_length=p.sft.max_length,
            gradient_checkpointing=p.sft.gradient_checkpointing,
        )
        for problem in template_problems(
            format_template(tokenizer, p.format), p.format, stop_ids(model, tokenizer)
        ):
            print(f"warning: {problem}", file=sys.stderr, flush=True)
        trainer = build_sft_trainer(
            model,
            format_template(tokenizer, p.format),
            peft_config,
            examples,
            p.sft,
            dtype,
            backend,
            checkpoints / f"sft-{run_id}",
        )
        trainer.add_callback(live_metrics(trainer))
        summary = train_and_publish(
            trainer,
            checkpoints / f"sft-{run_id}",
            out,
            log,
            manifest={
                "stage": "sft",
                "backend": backend,
                "base": str(base),
                "examples": len(examples),
                "left_out": left_out,
            },
        )
        run.publish(adapter=out)
    print(f"sft: {summary}")


if __name__ == "__main__":
    stage(main)
