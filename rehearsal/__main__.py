"""`make rehearse`: the `qwen3-4b` profile's whole pipeline (`dvc repro`, then `rlvr report`) in a scratch
copy of this project, offline, on CPU, on stand-ins of the same shape as its hub assets.

    python -m rehearsal [--work rehearsal-run]

The scratch project is this project's files (as a clone has them) in a fresh git repository, with
`profiles/qwen3-4b.yaml` written into params.yaml and then `rehearsal/overlay.yaml` on top (the hub ids
pointed at the stand-ins, the sizes cut; nothing else). What it proves: every stage of the seed recipe runs
on a Qwen3-architecture model with Qwen3's special tokens and chat template, on Open R1 Math's layout and
columns and MATH-500's, both GRPO arms, the registry; what it cannot: anything about the real 4B model's
quality, GPU memory or speed, or the hub downloads themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer
import yaml

from rehearsal.standins import build_qwen3, math500_snapshot, openr1_rows, openr1_snapshot

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = Path(__file__).with_name("overlay.yaml")


def overrides(tree: dict, prefix: str = "") -> list[str]:
    """The overlay as `key.path=value` overrides (what `dvc exp run -S` takes).

    >>> overrides({"train": {"max_steps": 3}, "model": {"name": "standins/Qwen3-tiny"}})
    ['train.max_steps=3', 'model.name=standins/Qwen3-tiny']
    """
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={value}")
    return out


def scratch_project(dest: Path) -> Path:
    """This project's files, as a clone has them, in a fresh git repository at `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in listed:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def run(command: list[str], project: Path, env: dict) -> None:
    print(f"$ {' '.join(command)}", flush=True)
    if subprocess.run(command, cwd=project, env=env).returncode != 0:
        raise SystemExit(f"rehearsal failed at `{' '.join(command)}` (scratch project: {project})")


def main(work: Path = typer.Option(Path("rehearsal-run"), help="Scratch folder (replaced).")) -> None:
    started = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    project = scratch_project(work.resolve() / "project")
    standins = project / "standins"
    corpus = [f"{r['problem']} {r['solution']} {r['answer']}" for r in openr1_rows(300, seed=0)]
    build_qwen3(standins / "Qwen3-tiny", corpus)
    openr1_snapshot(standins / "OpenR1-Math-220k")
    math500_snapshot(standins / "MATH-500")
    bin_dir = Path(sys.executable).parent
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "RLVR_CACHE": str(project / ".cache"),
        "TQDM_MININTERVAL": "10",
    }
    rlvr = str(bin_dir / "rlvr")
    run([rlvr, "use-profile", "qwen3-4b"], project, env)
    from rlvr.config.profiles import apply_overrides

    apply_overrides(project, overrides(yaml.safe_load(OVERLAY.read_text())))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(
        project,
        "-c",
        "user.name=rehearsal",
        "-c",
        "user.email=r@localhost",
        "commit",
        "-q",
        "-m",
        "rehearsal",
    )
    run([sys.executable, "-m", "dvc", "repro"], project, env)
    run([rlvr, "report"], project, env)
    config = json.loads((project / "models" / "base" / "config.json").read_text())
    evaluation = json.loads((project / "metrics" / "eval.json").read_text())
    suites = json.loads((project / "metrics" / "suites.json").read_text())
    registered = json.loads((project / "metrics" / "registry.json").read_text())
    arms = [name for name in ("grpo", "grpo_from_base") if name in evaluation]
    print(
        f"rehearsal: {config['architectures'][0]} ({config['model_type']}, "
        f"{config['num_hidden_layers']} layers) "
        f"through every stage of the qwen3-4b profile; arms evaluated: {', '.join(arms)}; suites: heldout, "
        f"{', '.join(suites)}; registered: {registered.get('uri', registered.get('reason'))}; "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )
    if arms != ["grpo", "grpo_from_base"] or "math500" not in suites or not registered.get("registered"):
        raise SystemExit("rehearsal incomplete: both arms, MATH-500 and a registered version are expected")


if __name__ == "__main__":
    typer.run(main)
