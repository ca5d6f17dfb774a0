"""Resumable training runs: checkpoints keyed by a fingerprint of the inputs, a per-step JSONL log, and
publishing the finished adapter atomically.

A run that was killed resumes from its last complete checkpoint when it is started again with the same
inputs, and a run with other inputs never picks up a stale checkpoint. The finished adapter is written
beside its destination and renamed into place, so a crash never leaves a half-written adapter.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from rlvr.contracts import AdapterManifest
from rlvr.files import partial, publish, write_failure, write_log, write_manifest
from rlvr.hashing import short_hash
from rlvr.training.weights import ADAPTER_CONFIG, TRAINING_ARGS, safetensors_problem


def fingerprint(*parts: object) -> str:
    """A short, stable hash of the inputs of a training run (params sections, input file hashes)."""

    def plain(value: object) -> object:
        return value.model_dump() if hasattr(value, "model_dump") else str(value)

    return short_hash(json.dumps(parts, sort_keys=True, default=plain))


STEP_FOLDER = re.compile(r"checkpoint-(\d+)")
# What the Trainer needs to resume a LoRA run where it stopped. It tolerates a missing optimizer or
# scheduler state by starting them afresh, which would silently change the run; here that is damage too.
NEEDED = ("trainer_state.json", ADAPTER_CONFIG, "adapter_model.safetensors", "optimizer.pt", "scheduler.pt")


def last_checkpoint(folder: Path) -> str | None:
    """The newest whole checkpoint in `folder`, saying which newer ones it passed over and why.

    The Trainer writes `trainer_state.json` after the weights and optimizer, so a save cut short by a kill
    has none (or a truncated one); a disk error, a full disk or a hand can also leave a file short or
    missing. Each file is checked without loading it: every file the Trainer resumes from is there, the
    trainer state is a mapping at the folder's own step, every safetensors file is whole
    (`rlvr.training.weights`), every torch file (optimizer, scheduler, RNG states) is a whole zip archive.
    Only `checkpoint-<step>` folders are checkpoints: a copy such as `checkpoint-4.bak` is not one."""
    steps = sorted(
        (int(match[1]), path)
        for path in folder.glob("checkpoint-*")
        if (match := STEP_FOLDER.fullmatch(path.name)) and path.is_dir()
    )
    for step, checkpoint in reversed(steps):
        if problem := checkpoint_problem(checkpoint, step):
            print(f"{checkpoint.name} is not usable ({problem}); trying the one before it", flush=True)
            continue
        return str(checkpoint)
    if steps:
        print("no usable checkpoint: starting from step 0", flush=True)
    return None


def checkpoint_problem(checkpoint: Path, step: int) -> str | None:
    """What makes the checkpoint saved at `step` unusable (None: it is whole)."""
    import zipfile

    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return "no whole trainer_state.json"
    if not isinstance(state, dict):
        return "trainer_state.json is not a mapping"
    if state.get("global_step") != step:
        return f"trainer_state.json says step {state.get('global_step', 0)}, not {step}"
    if missing := [name for name in NEEDED if not (checkpoint / name).is_file()]:
        return f"no {', '.join(missing)}"
    for weights in checkpoint.glob("*.safetensors"):
        if problem := safetensors_problem(weights):
            return problem
    for saved in (*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")):
        if not zipfile.is_zipfile(saved):
            return f"{saved.name} is cut short"
    return None


def kept_log(path: Path, resume_step: int) -> list[str]:
    """The lines of a killed run's log up to `resume_step`. A kill while a line was written leaves half of
    it at the end: a line that is not a whole JSON record is dropped, with one warning, and the rest kept
    (the resumed run logs that step again)."""
    kept = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            row = json.loads(line)
            step = row["step"]
        except (ValueError, TypeError, KeyError):
            print(
                f"warning: {path} line {number} is not a whole JSON record (cut short?); dropped it",
                file=sys.stderr,
                flush=True,
            )
            continue
        if step <= resume_step:
            kept.append(line)
    return kept


def json_logger(path: Path, resume_step: int):
    """A TrainerCallback appending each logged step (rewards per function, loss, KL, lengths) to JSONL.

    On resume, lines of steps after the checkpoint (logged by the killed run) are dropped first, so the
    log holds each step once."""
    from transformers import TrainerCallback

    if path.exists():
        path.write_text("".join(line + "\n" for line in kept_log(path, resume_step)))

    class JsonlLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: v for k, v in (logs or {}).items() if isinstance(v, int | float)}
            if "train_runtime" in numbers:  # the end-of-training summary, not a step
                return
            with path.open("a") as log:
                log.write(json.dumps({"step": state.global_step, **numbers}) + "\n")

    return JsonlLogger()


def train_and_publish(
    trainer,
    checkpoints: Path,
    adapter_out: Path,
    log_out: Path,
    manifest: AdapterManifest,
    curve_out: Path | None = None,
    curve: Callable[[Path, int], object] | None = None,
) -> dict:
    """Train (resuming from the last checkpoint in `checkpoints`), then write the adapter and its log, and
    to `curve_out` the learning curve's points (`rlvr.evaluation.curves`: `curve(points_file, resume_step)`
    makes its callback; without one the file holds no point).

    With several processes every one trains (and takes part in saving the model, which sharded setups
    gather), but only the main process measures the curve and writes the logs, the adapter and the
    manifest."""
    main = trainer.is_world_process_zero()
    resume = last_checkpoint(checkpoints)
    resume_step = int(Path(resume).name.split("-")[-1]) if resume else 0
    log_path, curve_path = checkpoints / "log.jsonl", checkpoints / "curve.jsonl"
    checkpoints.mkdir(parents=True, exist_ok=True)
    if main:
        trainer.add_callback(json_logger(log_path, resume_step))
        if curve is not None:
            trainer.add_callback(curve(curve_path, resume_step))
    if resume:
        print(f"resuming from {resume} (step {resume_step})", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    tmp = partial(adapter_out) if main else adapter_out.with_name(f".{adapter_out.name}.partial")
    manifest = manifest.model_copy(
        update={
            "steps": trainer.state.global_step,
            "resumed_from_step": resume_step,
            "train_runtime_s": result.metrics.get("train_runtime"),
        }
    )
    try:
        trainer.accelerator.wait_for_everyone()
        trainer.save_model(str(tmp))
        trainer.accelerator.wait_for_everyone()
        if not main:
            return {"trained": True, "steps": trainer.state.global_step}
        trainer.processing_class.save_pretrained(str(tmp))
        (tmp / TRAINING_ARGS).unlink(missing_ok=True)  # a pickle, and nothing loads it with the adapter
        write_manifest(tmp, manifest)
    except Exception as exc:  # a full or read-only disk: one line naming the adapter, no half-saved copy
        shutil.rmtree(tmp, ignore_errors=True)
        if failure := write_failure(exc, adapter_out):
            raise failure from None
        raise
    write_log([json.loads(line) for line in log_path.read_text().splitlines()], log_out)
    if curve_out is not None:
        points = curve_path.read_text().splitlines() if curve_path.is_file() else []
        write_log([json.loads(line) for line in points], curve_out)
    publish(tmp, adapter_out)
    shutil.rmtree(checkpoints)
    return manifest.model_dump(exclude_none=True)
