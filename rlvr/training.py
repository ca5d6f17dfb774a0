"""SFT warm-up and GRPO training of a LoRA adapter with TRL, on the TRL+PEFT or the Unsloth backend.

Both trainers checkpoint into a folder keyed by a fingerprint of their inputs, so a run that was killed
resumes from its last checkpoint when it is started again with the same inputs, and a run with other
inputs never picks up a stale checkpoint. The finished adapter is written beside its destination and
renamed into place, so a crash never leaves a half-written adapter.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlvr.config import LoraParams, SftParams, TrainParams
from rlvr.errors import RlvrError
from rlvr.models import load_model, load_tokenizer

MANIFEST = "rlvr_adapter.json"


class BackendUnavailable(RlvrError):
    """The backend asked for in params cannot run on this machine."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def select_backend(requested: str) -> str:
    """`auto` means Unsloth where a CUDA GPU and the unsloth package are both present, TRL+PEFT elsewhere."""
    unsloth_ready = cuda_available() and importlib.util.find_spec("unsloth") is not None
    if requested == "auto":
        return "unsloth" if unsloth_ready else "trl"
    if requested == "unsloth" and not unsloth_ready:
        raise BackendUnavailable(
            "train.backend is 'unsloth', which needs a CUDA GPU and `pip install -e .[gpu]`; "
            "set train.backend to 'auto' or 'trl' to train with TRL+PEFT here"
        )
    return requested


def vllm_available() -> bool:
    return cuda_available() and importlib.util.find_spec("vllm") is not None


def lora_config(lora: LoraParams):
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def load_trainable(
    base_dir: Path, dtype: str, lora: LoraParams, adapter: Path | None, backend: str, max_seq_length: int
) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config): a fresh LoRA on the base model, or the adapter at `adapter` made
    trainable again. `peft_config` is None when the model already carries its adapter."""
    if backend == "unsloth":
        from unsloth import FastLanguageModel  # imported first: Unsloth patches transformers and TRL

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(adapter or base_dir), max_seq_length=max_seq_length, load_in_4bit=False
        )
        if adapter is None:
            model = FastLanguageModel.get_peft_model(
                model,
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules),
                use_gradient_checkpointing="unsloth",
            )
        return model, tokenizer, None
    tokenizer = load_tokenizer(base_dir)
    model = load_model(base_dir, dtype, adapter=adapter, trainable=True)
    return model, tokenizer, None if adapter else lora_config(lora)


def fingerprint(*parts: object) -> str:
    """A short, stable hash of the inputs of a training run (params sections, input file hashes)."""
    import hashlib

    def plain(value: object) -> object:
        return value.model_dump() if hasattr(value, "model_dump") else str(value)

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=plain).encode()).hexdigest()[:16]


def last_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint in `folder`. The Trainer writes `trainer_state.json` after the
    weights and optimizer, so a checkpoint whose save was interrupted by a kill has none (or a truncated
    one) and is passed over for the one before it."""
    steps = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in steps:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return str(checkpoint)
    return None


def json_logger(path: Path, resume_step: int):
    """A TrainerCallback appending each logged step (rewards per function, loss, KL, lengths) to JSONL.

    On resume, lines of steps after the checkpoint (logged by the killed run) are dropped first, so the
    log holds each step once."""
    from transformers import TrainerCallback

    if path.exists():
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= resume_step]
        path.write_text("".join(line + "\n" for line in kept))

    class JsonlLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: v for k, v in (logs or {}).items() if isinstance(v, int | float)}
            if "train_runtime" in numbers:  # the end-of-training summary, not a step
                return
            with path.open("a") as log:
                log.write(json.dumps({"step": state.global_step, **numbers}) + "\n")

    return JsonlLogger()


def common_args(params: SftParams | TrainParams, dtype: str, output_dir: Path) -> dict[str, Any]:
    """TrainingArguments shared by both trainers. On a CPU-only machine TRL raises unless use_cpu=True."""
    return dict(
        output_dir=str(output_dir),
        max_steps=params.max_steps,
        learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        seed=params.seed,
        logging_steps=1,
        save_strategy="steps",
        report_to=[],
        use_cpu=not cuda_available(),
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        disable_tqdm=False,
    )


def run_trainer(trainer, checkpoints: Path, adapter_out: Path, log_out: Path, manifest: dict) -> dict:
    """Train (resuming from the last checkpoint in `checkpoints`), then write the adapter and its log."""
    resume = last_checkpoint(checkpoints)
    resume_step = int(Path(resume).name.split("-")[-1]) if resume else 0
    log_path = checkpoints / "log.jsonl"
    checkpoints.mkdir(parents=True, exist_ok=True)
    trainer.add_callback(json_logger(log_path, resume_step))
    if resume:
        print(f"resuming from {resume} (step {resume_step})", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    partial = adapter_out.with_name(adapter_out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    trainer.save_model(str(partial))
    trainer.processing_class.save_pretrained(str(partial))
    manifest = {
        **manifest,
        "trained": True,
        "steps": trainer.state.global_step,
        "resumed_from_step": resume_step,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    log_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, log_out)
    shutil.rmtree(adapter_out, ignore_errors=True)
    partial.rename(adapter_out)
    shutil.rmtree(checkpoints)
    return {**manifest, "train_runtime_s": result.metrics.get("train_runtime")}


def train_sft(
    model, tokenizer, peft_config, examples: Sequence[dict], params: SftParams, dtype: str, checkpoints: Path
):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **common_args(params, dtype, checkpoints),
        save_steps=max(1, params.max_steps // 4),
        max_length=params.max_length,
        lr_scheduler_type="constant",
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def train_grpo(
    model,
    tokenizer,
    peft_config,
    examples: Sequence[dict],
    rewards: Sequence[Callable],
    weights: Sequence[float],
    params: TrainParams,
    dtype: str,
    checkpoints: Path,
    use_vllm: bool,
):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        **common_args(params, dtype, checkpoints),
        save_steps=params.save_steps,
        num_generations=params.num_generations,
        max_completion_length=params.max_completion_length,
        temperature=params.temperature,
        beta=params.beta,
        weight_decay=params.weight_decay,
        warmup_steps=params.warmup_steps,
        lr_scheduler_type=params.lr_scheduler_type,
        optim=params.optim,
        reward_weights=list(weights),
        use_vllm=use_vllm,
        vllm_mode="colocate",
    )
    return GRPOTrainer(
        model=model,
        args=args,
        reward_funcs=list(rewards),
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
