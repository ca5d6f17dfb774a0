"""Running the train, evaluate and report stages as `dvc repro` would, on a small prepared project in a
temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from rlvr.config.schema import parse_params
from rlvr.contracts import AdapterManifest
from rlvr.data.problems import make_problems
from rlvr.files import write_jsonl, write_log, write_manifest

ROOT = Path(__file__).resolve().parents[1]
ROWS = make_problems(24, seed=5, levels=[1])


def stage_project(tmp_path: Path, weights: Path, **sections) -> Path:
    """The inputs of the train and evaluate stages, as `dvc repro` would have left them: the model
    stage's base (a copy of the model at `weights`), prepared data, an sft stage that was skipped, and
    params (`sections` override the small defaults here)."""
    shutil.copytree(weights, tmp_path / "base")
    (tmp_path / "base" / "rlvr_base.json").write_text(
        json.dumps({"name": str(weights), "revision": None, "dtype": "float32"})
    )
    write_jsonl(ROWS[:16], tmp_path / "data" / "train.jsonl")
    write_jsonl(ROWS[16:], tmp_path / "data" / "heldout.jsonl")
    (tmp_path / "sft").mkdir()
    write_manifest(tmp_path / "sft", AdapterManifest(stage="sft", trained=False, reason="sft.max_steps is 0"))
    write_log([], tmp_path / "logs" / "sft.json")
    values = {
        "model": {"name": str(weights), "dtype": "bfloat16"},
        "lora": {"r": 4, "alpha": 8},
        "evaluate": {"max_problems": 8, "max_new_tokens": 8, "batch_size": 4},
    }
    # no learning curve: tests/test_curves.py and the pipeline's tests measure it
    train = {"max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_length": 8}
    train["eval_every"] = 0
    values["train"] = train | sections.pop("train", {})
    values |= sections
    parse_params(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(values))
    return tmp_path


def stage_command(project: Path, stage: str, **options: object) -> list[str]:
    """`python -m tasks.<stage>` on `project`, each option given as its `--option`."""
    args = [arg for key, value in options.items() for arg in (f"--{key.replace('_', '-')}", str(value))]
    return [sys.executable, "-m", f"tasks.{stage}", "--params", str(project / "params.yaml"), *args]


STAGE_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}


def run_stage(project: Path, stage: str, **options: object) -> str:
    result = subprocess.run(
        stage_command(project, stage, **options), cwd=ROOT, capture_output=True, text=True, env=STAGE_ENV
    )
    assert result.returncode == 0, f"{stage} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


def train_options(project: Path) -> dict:
    return dict(
        arm="grpo", start="sft", data=project / "data", heldout=project / "data", base=project / "base",
        sft=project / "sft", out=project / "models" / "grpo", log=project / "logs" / "grpo.json",
        curve=project / "logs" / "curve_grpo.json", checkpoints=project / "ck",
    )  # fmt: skip


def train_stage(project: Path) -> str:
    return run_stage(project, "train", **train_options(project))


def evaluate_stage(project: Path, **report: object) -> str:
    """The evaluate stage of the base, SFT and the grpo arm, then the report stage (`report` adds options
    to it), as `dvc repro` runs them; their output."""
    suites = {"suites": report.pop("suites")} if "suites" in report else {}
    output = "".join(
        run_stage(
            project, "evaluate", model=model, data=project / "data", base=project / "base",
            models_dir=project if model == "sft" else project / "models", out=project / "evaluations" / model,
            **suites,
        )
        for model in ("base", "sft", "grpo")
    )  # fmt: skip
    return output + run_stage(
        project, "report", evaluations=project / "evaluations", sft=project / "sft",
        sft_log=project / "logs" / "sft.json", arm="grpo", models_dir=project / "models",
        logs_dir=project / "logs", metrics=project / "eval.json", arms_report=project / "arms.json",
        predictions=project / "predictions.jsonl", plots=project / "plots",
        sampled_metrics=project / "sampled.json", **report,
    )  # fmt: skip
