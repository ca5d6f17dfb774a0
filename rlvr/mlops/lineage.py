"""Where an artifact came from: the git commit, and the data version DVC recorded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit, with `+dirty` when tracked files have changed; `unknown` outside git.

    What the pipeline itself writes (dvc.lock and every output dvc.yaml declares: data, models, metrics,
    logs, plots) does not count: the README's workflow commits them after a run, and the next run
    rewrites them before it registers, which would tag every version of a clean checkout `+dirty`."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "unknown"
    written = [f":(exclude,literal){path}" for path in pipeline_products(Path(cwd))]
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *written).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def pipeline_products(root: Path) -> list[str]:
    """dvc.lock and the outputs of every stage of `root`'s dvc.yaml (foreach items and templated paths
    resolved by DVC), relative to `root`."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return ["dvc.lock", *(os.path.relpath(out.fs_path, root) for out in repo.index.outs)]


def dvc_out_hash(lock_file: str | Path, stage: str) -> str | None:
    """The md5 DVC recorded in dvc.lock for the first output of `stage`: the version of that data."""
    lock = yaml.safe_load(Path(lock_file).read_text()) if Path(lock_file).is_file() else None
    outs = ((lock or {}).get("stages", {}).get(stage) or {}).get("outs") or []
    return outs[0].get("md5") if outs else None
