"""Where an artifact came from: the git commit, and the data version DVC recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit, with `+dirty` when tracked files have changed; `unknown` outside git."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def dvc_out_hash(lock_file: str | Path, stage: str) -> str | None:
    """The md5 DVC recorded in dvc.lock for the first output of `stage`: the version of that data."""
    lock = yaml.safe_load(Path(lock_file).read_text()) if Path(lock_file).is_file() else None
    outs = ((lock or {}).get("stages", {}).get(stage) or {}).get("outs") or []
    return outs[0].get("md5") if outs else None
