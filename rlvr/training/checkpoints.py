"""Resumable training runs: checkpoints keyed by a fingerprint of the inputs, a per-step JSONL log, and
publishing the finished adapter atomically.

A run that was killed resumes from its last complete checkpoint when it is started again with the same
inputs, and a run with other inputs never picks up a stale checkpoint. The finished adapter is written
beside its destination and renamed into place, so a crash never leaves a half-written adapter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rlvr.files import ADAPTER_MANIFEST, partial, publish, to_json, write_log
from rlvr.hashing import short_hash
from rlvr.training.weights import TRAINING_ARGS, safetensors_problem


def fingerprint(*parts: object) -> str:
    """A short, stable hash of the inputs of a training run (params sections, input file hashes)."""

    def plain(value: object) -> object:
        return value.model_dump() if hasattr(value, "model_dump") else str(value)

    return short_hash(json.dumps(parts, sort_keys=True, default=plain))


def last_checkpoint(folder: Path) -> str | None:
    """The newest whole checkpoint in `folder`, saying which newer ones it passed over and why.

    The Trainer writes `trainer_state.json` after the weights and optimizer, so a save cut short by a kill
    has none (or a truncated one); a disk error or a full disk can also leave a weights file short. Each
    file is checked without loading it: the trainer state parses, every safetensors file is whole
    (`rlvr.training.weights`), every torch file (optimizer, scheduler, RNG states) is a whole zip archive."""
    steps = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in steps:
        if problem := checkpoint_problem(checkpoint):
            print(f"{checkpoint.name} is not usable ({problem}); trying the one before it", flush=True)
            continue
        return str(checkpoint)
    return None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """What makes a saved checkpoint unusable (None: it is whole)."""
    import zipfile

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return "no whole trainer_state.json"
    for weights in checkpoint.glob("*.safetensors"):
        if problem := safetensors_problem(weights):
            return problem
    for saved in (*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")):
        if not zipfile.is_zipfile(saved):
            return f"{saved.name} is cut short"
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


def train_and_publish(trainer, checkpoints: Path, adapter_out: Path, log_out: Path, manifest: dict) -> dict:
    """Train (resuming from the last checkpoint in `checkpoints`), then write the adapter and its log.

    With several processes every one trains (and takes part in saving the model, which sharded setups
    gather), but only the main process writes the log, the adapter and the manifest."""
    main = trainer.is_world_process_zero()
    resume = last_checkpoint(checkpoints)
    resume_step = int(Path(resume).name.split("-")[-1]) if resume else 0
    log_path = checkpoints / "log.jsonl"
    checkpoints.mkdir(parents=True, exist_ok=True)
    if main:
        trainer.add_callback(json_logger(log_path, resume_step))
    if resume:
        print(f"resuming from {resume} (step {resume_step})", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    tmp = partial(adapter_out) if main else adapter_out.with_name(f".{adapter_out.name}.partial")
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if not main:
        return {"trained": True, "steps": trainer.state.global_step}
    trainer.processing_class.save_pretrained(str(tmp))
    (tmp / TRAINING_ARGS).unlink(missing_ok=True)  # a pickle, and nothing loads it with the adapter
    manifest = {
        **manifest,
        "trained": True,
        "steps": trainer.state.global_step,
        "resumed_from_step": resume_step,
        "train_runtime_s": result.metrics.get("train_runtime"),
    }
    (tmp / ADAPTER_MANIFEST).write_text(to_json(manifest, indent=2))
    write_log([json.loads(line) for line in log_path.read_text().splitlines()], log_out)
    publish(tmp, adapter_out)
    shutil.rmtree(checkpoints)
    return manifest
