"""`make rehearse`: the `qwen3-4b` profile's whole pipeline (`dvc repro`, then `rlvr report`) in a scratch
copy of this project, offline, on CPU, on stand-ins of the same shape as its hub assets.

    python -m rehearsal [--work rehearsal-run]

The scratch project is this project's files (as a clone has them) in a fresh git repository, with
`profiles/qwen3-4b.yaml` written into params.yaml and then `rehearsal/overlay.yaml` on top (the hub ids
pointed at the stand-ins, the sizes cut; nothing else). What it proves: every stage of the seed recipe runs
on a Qwen3-architecture model with Qwen3's special tokens and chat template, on DAPO-Math-17k's and
OpenMathReasoning-mini's layouts and columns and MATH-500's, both GRPO arms, the registry; and that GRPO
learns there: the stand-in base is first taught the answer format (`teach_format`), so its completions end
within the length limit and its groups score differently, and the run is killed during GRPO and resumed
from its checkpoint. The last line reports a GRPO step's gradient norm, the clipped share and the step
resumed from, and the run fails if any is missing. What it cannot prove: anything about the real 4B
model's quality, GPU memory or speed, or the hub downloads themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
import yaml

from rehearsal.standins import (
    additions,
    build_qwen3,
    dapo_snapshot,
    math500_snapshot,
    openmath_snapshot,
    openr1_rows,
    teach_format,
)
from rlvr.files import read_log

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


def killed_during_grpo(project: Path, env: dict, step: int) -> None:
    """`dvc repro`, killed (its whole process group, as a crash would) once the GRPO arm has saved the
    checkpoint of `step`."""
    print(f"$ dvc repro  (killed once train@grpo has saved checkpoint-{step})", flush=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, start_new_session=True
    )
    while not list((project / "checkpoints").glob(f"grpo-*/checkpoint-{step}/trainer_state.json")):
        if process.poll() is not None:
            raise SystemExit(f"rehearsal: `dvc repro` ended before GRPO saved checkpoint-{step}")
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def learning(project: Path) -> str:
    """What the GRPO arm's log and manifest show, or a failure: a step with a non-zero gradient and groups
    that did not all tie, completions that mostly ended within the limit, a resume from a checkpoint, and
    the completions table logged to MLflow."""
    log = read_log(project / "logs" / "grpo.json")
    manifest = json.loads((project / "models" / "grpo" / "rlvr_adapter.json").read_text())
    moved = [row for row in log if row.get("grad_norm", 0) > 0 and row.get("frac_reward_zero_std", 1) < 1]
    clipped = [row["completions/clipped_ratio"] for row in log if "completions/clipped_ratio" in row]
    tables = list(project.glob("mlruns/**/completions.json"))
    problems = [
        "no GRPO step with a non-zero gradient and untied groups" if not moved else "",
        f"clipped ratio {max(clipped):.2f} (>= 0.5)" if not clipped or max(clipped) >= 0.5 else "",
        "no resume from a checkpoint" if not manifest.get("resumed_from_step") else "",
        "no completions table in MLflow" if not tables else "",
    ]
    if problems := [p for p in problems if p]:
        raise SystemExit(f"rehearsal: GRPO did not learn as expected: {'; '.join(problems)}")
    step = moved[0]
    return (
        f"GRPO step {step['step']}: grad_norm {step['grad_norm']:.3g}, groups tied "
        f"{step['frac_reward_zero_std']:.2f}; clipped ratio at most {max(clipped):.2f}; resumed from step "
        f"{manifest['resumed_from_step']}; completions tables: {len(tables)}"
    )


def main(work: Path = typer.Option(Path("rehearsal-run"), help="Scratch folder (replaced).")) -> None:
    started = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    project = scratch_project(work.resolve() / "project")
    standins = project / "standins"
    dapo_snapshot(standins / "DAPO-Math-17k-Processed")
    openmath_snapshot(standins / "OpenMathReasoning-mini")
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
    from rlvr.data.prompts import system_prompt

    m = apply_overrides(project, overrides(yaml.safe_load(OVERLAY.read_text()))).format
    corpus = [f"{r['problem']} {r['solution']} {r['answer']}" for r in openr1_rows(300, seed=0)]
    corpus += [system_prompt(m)] * 20 + [
        f"{p} {m.reasoning_start}{s}{m.reasoning_end}{m.solution_start}{a}{m.solution_end}"
        for p, s, a in additions(300, seed=9)
    ]
    build_qwen3(standins / "Qwen3-tiny", corpus)
    taught = teach_format(standins / "Qwen3-tiny", m)
    print(
        f"rehearsal: the stand-in base writes the exact format in {taught:.0%} of greedy answers", flush=True
    )
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
    killed_during_grpo(project, env, step=2)
    run([sys.executable, "-m", "dvc", "repro"], project, env)
    run([rlvr, "report"], project, env)
    learned = learning(project)
    config = json.loads((project / "models" / "base" / "config.json").read_text())
    evaluation = json.loads((project / "metrics" / "eval.json").read_text())
    suites = json.loads((project / "metrics" / "suites.json").read_text())
    registered = json.loads((project / "metrics" / "registry.json").read_text())
    arms = [name for name in ("grpo", "grpo_from_base") if name in evaluation]
    print(
        f"rehearsal: {config['architectures'][0]} ({config['model_type']}, "
        f"{config['num_hidden_layers']} layers) "
        f"through every stage of the qwen3-4b profile; arms evaluated: {', '.join(arms)}; suites: heldout, "
        f"{', '.join(suites)}; registered: {registered.get('uri', registered.get('reason'))}; {learned}; "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )
    if arms != ["grpo", "grpo_from_base"] or "math500" not in suites or not registered.get("registered"):
        raise SystemExit("rehearsal incomplete: both arms, MATH-500 and a registered version are expected")


if __name__ == "__main__":
    typer.run(main)
