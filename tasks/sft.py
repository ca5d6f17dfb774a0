"""Stage `sft`: the optional format warm-up, a LoRA adapter trained on worked solutions: those of the
training rows, or (`sft.data`) the rows the fetch stage fetched for it, without the held-out problems.

With `sft.max_steps: 0` the stage writes a manifest that says so and no adapter; `train` then starts
from the base model.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.contracts import AdapterManifest
from rlvr.data.examples import sft_examples, sft_source_rows
from rlvr.data.prepare import problem_id
from rlvr.data.prompts import conversation_ids, format_template, template_problems
from rlvr.errors import DataError
from rlvr.evaluation.curves import learning_curve
from rlvr.files import HELDOUT_SET, TRAIN_SET, read_base_manifest, read_jsonl, read_problems
from rlvr.hashing import hash_path
from rlvr.mlops.live import live_metrics, log_point
from rlvr.mlops.runs import StageDataset, stage_run
from rlvr.training.checkpoints import fingerprint, train_and_publish
from rlvr.training.hardware import resolve_dtype, select_backend
from rlvr.training.models import load_tokenizer, load_trainable, stop_ids
from rlvr.training.trainers import build_sft_trainer
from tasks import BASE, CHECKPOINTS, CURVE, DATA, PARAMS, relaunched, skipped, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    own: Path | None = typer.Option(
        None, help="JSONL of SFT's own rows (fetch), read when sft.data names one."
    ),
    out: Path = typer.Option(..., help="Directory for the SFT adapter."),
    log: Path = typer.Option(..., help="JSON file for the per-step training log."),
    curve: Path = CURVE,
    checkpoints: Path = CHECKPOINTS,
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    if p.sft.max_steps == 0:
        skipped(out, log, curve, AdapterManifest(stage="sft", trained=False, reason="sft.max_steps is 0"))
        print("sft: skipped (sft.max_steps is 0)")
        return
    if p.sft.data.source == "train":
        train_file = data / TRAIN_SET
        heldout = set()
    else:
        if own is None or not own.is_file():
            raise DataError(
                f"sft.data.source is {p.sft.data.source} but no --own file holds its rows; run fetch"
            )
        train_file = own
        heldout = {problem_id(row["problem"]) for row in read_problems(data / HELDOUT_SET, "prepare")}
    rows, left_out = sft_source_rows(
        read_jsonl(train_file, "prepare" if own is None else "fetch"), p.sft.data.numeric_answers, heldout
    )
    tokenizer = format_template(load_tokenizer(base), p.format)
    examples, dropped = sft_examples(
        rows,
        p.format,
        lambda example: len(conversation_ids(tokenizer, example["prompt"] + example["completion"])),
        p.sft.max_length,
    )
    left_out |= dropped
    if not examples:
        raise DataError(
            f"sft.max_steps is {p.sft.max_steps} but no row of {train_file} makes an SFT example (left out: "
            f"{left_out}): a row needs a worked solution, and prompt and solution must fit in "
            f"sft.max_length={p.sft.max_length} tokens; set sft.max_steps: 0, use a data source with a "
            "`solution` column (sft.data), or raise sft.max_length"
        )
    if p.sft.max_examples is not None and len(examples) > p.sft.max_examples:
        left_out["over_max_examples"] = len(examples) - p.sft.max_examples
        examples = examples[: p.sft.max_examples]
    print(f"sft: {len(examples)} examples; left out: {left_out}")
    if relaunched(p.distributed):
        return
    with stage_run("sft", params, dataset=StageDataset(rows, str(train_file), "sft/source")) as run:
        backend = select_backend(p.train.backend)
        dtype = resolve_dtype(p.model.dtype)
        base_manifest = read_base_manifest(base).model_dump_json()
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
            curve_out=curve,
            curve=partial(
                learning_curve,
                format_template(tokenizer, p.format),
                read_problems(data / HELDOUT_SET, "prepare")[: p.sft.eval_problems],
                p.format,
                p.sft.eval_every,
                p.evaluate.max_new_tokens,
                p.evaluate.batch_size,
                on_point=log_point,
            )
            if p.sft.eval_every
            else None,
            manifest=AdapterManifest(
                stage="sft",
                trained=True,
                backend=backend,
                base=str(base),
                examples=len(examples),
                left_out=left_out,
            ),
        )
        run.publish(adapter=out)
    print(f"sft: {summary}")


if __name__ == "__main__":
    stage(main)
