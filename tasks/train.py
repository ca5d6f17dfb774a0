"""Stage `train`: GRPO with TRL, one run per arm (dvc.yaml's `foreach`).

The main arm (`--start sft`) trains on top of the SFT adapter, or on the base model when SFT is off. The
`grpo_from_base` arm (`--start base`, switched on by `train.base_arm`) is RFT without SFT, the comparison
that answers whether the warm-up was needed; when it is off, or when SFT is off (the main arm then starts
from the base already), the stage writes a manifest saying so and no adapter.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.contracts import AdapterManifest
from rlvr.data.examples import to_grpo_example
from rlvr.data.prompts import format_template, template_problems
from rlvr.errors import RlvrError
from rlvr.evaluation.curves import learning_curve
from rlvr.files import HELDOUT_SET, TRAIN_SET, read_base_manifest, read_problems
from rlvr.hashing import hash_path
from rlvr.mlops.live import live_metrics, log_point
from rlvr.mlops.runs import StageDataset, stage_run
from rlvr.training.checkpoints import fingerprint, train_and_publish
from rlvr.training.hardware import resolve_dtype, resolve_optim, select_backend, select_generation
from rlvr.training.models import has_adapter, load_trainable, stop_ids
from rlvr.training.trainers import build_grpo_trainer
from rlvr.training.weights import check_adapter
from rlvr.verify.rewards import build_rewards
from tasks import BASE, CHECKPOINTS, CURVE, DATA, PARAMS, SFT, check_arm_names, relaunched, skipped, stage


def main(
    arm: str = typer.Option("grpo", help="The arm's name (its adapter and log are named after it)."),
    start: str = typer.Option("sft", help="sft: on the SFT adapter when there is one; base: on the base."),
    data: Path = DATA,
    heldout: Path = typer.Option(..., help="Directory written by the prepare stage (its held-out problems)."),
    base: Path = BASE,
    sft: Path = SFT,
    out: Path = typer.Option(..., help="Directory for the GRPO adapter."),
    log: Path = typer.Option(..., help="JSON file for the per-step training log."),
    curve: Path = CURVE,
    checkpoints: Path = CHECKPOINTS,
    params: Path = PARAMS,
) -> None:
    check_arm_names([arm])
    if start not in ("sft", "base"):
        raise RlvrError(f"--start must be 'sft' or 'base', not {start!r}")
    p = load_params(params)
    t = p.train
    if start == "base" and (not t.base_arm or p.sft.max_steps == 0):
        reason = "train.base_arm is off" if not t.base_arm else "the main arm starts from the base already"
        skipped(out, log, curve, AdapterManifest(stage="train", trained=False, arm=arm, reason=reason))
        print(f"train: {arm} skipped ({reason})")
        return
    train_file = data / TRAIN_SET
    rows = read_problems(train_file, "select")
    examples = [to_grpo_example(row, p.format) for row in rows]
    base_manifest = read_base_manifest(base).model_dump_json()
    adapter = sft if start == "sft" and has_adapter(sft) else None
    if adapter:
        check_adapter(adapter, "run `dvc repro -f sft`")
    if relaunched(p.distributed):
        return
    with stage_run(arm, params, dataset=StageDataset(rows, str(train_file), "selected/train")) as run:
        backend = select_backend(t.backend)
        generation = select_generation(t.generation, backend, sharded=p.distributed.sharding is not None)
        dtype = resolve_dtype(p.model.dtype)
        run_id = fingerprint(
            arm,
            t,
            p.lora,
            dtype,
            p.format,
            backend,
            generation,
            hash_path(train_file),
            base_manifest,
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
            gpu_memory_utilization=t.vllm_gpu_memory_utilization,
            vllm_standby=t.vllm_standby and generation == "vllm",
        )
        tokenizer = format_template(tokenizer, p.format)
        for problem in template_problems(tokenizer, p.format, stop_ids(model, tokenizer)):
            print(f"warning: {problem}", file=sys.stderr, flush=True)
        names = list(t.rewards)
        trainer = build_grpo_trainer(
            model,
            tokenizer,
            peft_config,
            examples,
            build_rewards(names, p.format, t.reward_scores),
            [t.rewards[name] for name in names],
            t,
            dtype,
            backend,
            generation,
            p.prepare.max_prompt_tokens,
            checkpoints / f"{arm}-{run_id}",
        )
        tokens = t.batch_size * t.gradient_accumulation_steps * t.max_completion_length
        origin = "the SFT adapter" if adapter else "the base model"
        optim = resolve_optim(t.optim)
        print(
            f"train: {arm} from {origin}: {backend} backend, {dtype}, generation with {generation}, "
            f"{t.max_steps} steps of up to {tokens} completion tokens each, optimizer {optim}"
            + (f" (train.optim {t.optim} needs bitsandbytes on a CUDA GPU)" if optim != t.optim else "")
        )
        trainer.add_callback(live_metrics(trainer, p.tracking.completions_every))
        summary = train_and_publish(
            trainer,
            checkpoints / f"{arm}-{run_id}",
            out,
            log,
            curve_out=curve,
            curve=partial(
                learning_curve,
                tokenizer,
                read_problems(heldout / HELDOUT_SET, "prepare")[: t.eval_problems],
                p.format,
                t.eval_every,
                p.evaluate.max_new_tokens,
                p.evaluate.batch_size,
                on_point=log_point,
            )
            if t.eval_every
            else None,
            manifest=AdapterManifest(
                stage="train",
                trained=True,
                arm=arm,
                backend=backend,
                base=str(base),
                from_sft=adapter is not None,
                train_rows=len(examples),
                completions_per_round=t.completions_per_round,
            ),
        )
        run.publish(adapter=out)
    print(f"train: {summary}")


if __name__ == "__main__":
    stage(main)
