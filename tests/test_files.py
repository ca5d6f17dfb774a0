"""Outputs written whole or not at all: a crash or a full disk leaves the old output or none, never half
of one, and a full disk is one line naming the path."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from rlvr.files import DiskFull, disk_full, read_jsonl, replacing, write_json, write_jsonl
from tests.conftest import ROOT, project_env


@pytest.fixture
def full_disk(tmp_path):
    """A real filesystem of 16 KiB (tmpfs), where the platform lets this process mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_write_that_fails_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl([{"a": 1}], path)

    def rows():
        yield {"a": 2}
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        write_jsonl(rows(), path)
    assert read_jsonl(path) == [{"a": 1}] and sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_a_folder_is_replaced_as_a_whole(tmp_path):
    out = tmp_path / "prepared"
    with replacing(out) as folder:
        write_jsonl([{"a": 1}], folder / "train.jsonl")
        write_jsonl([{"a": 2}], folder / "heldout.jsonl")
    with pytest.raises(ValueError), replacing(out) as folder:
        write_jsonl([{"a": 3}], folder / "train.jsonl")
        raise ValueError("the held-out set failed")
    assert read_jsonl(out / "train.jsonl") == [{"a": 1}] and read_jsonl(out / "heldout.jsonl") == [{"a": 2}]


def test_json_is_strict():
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(ROOT / "never-written.json", {"x": float("inf")})
    assert not (ROOT / "never-written.json").exists()


def test_an_injected_enospc_is_a_disk_full_naming_the_path(tmp_path):
    error = disk_full(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "x")
    assert isinstance(error, DiskFull) and f"while writing {tmp_path / 'x'}" in str(error)
    assert disk_full(OSError(errno.EACCES, "Permission denied"), tmp_path / "x") is None


def test_a_full_disk_is_one_line_and_keeps_the_old_file(full_disk):
    path = full_disk / "rows.jsonl"
    write_jsonl([{"a": 1}], path)
    with pytest.raises(DiskFull, match=f"no space left on the device while writing {path}"):
        write_jsonl([{"problem": "x" * 1000, "answer": str(i)} for i in range(50)], path)
    assert read_jsonl(path) == [{"a": 1}] and sorted(p.name for p in full_disk.iterdir()) == ["rows.jsonl"]


def test_a_stage_on_a_full_disk_fails_in_one_line_and_publishes_nothing(full_disk, tmp_path, tiny_model):
    """The prepare stage writing its sets onto a full disk: one line naming the path, and no half-written
    `prepared/` (train.jsonl without heldout.jsonl) left for the next stage to take as finished."""
    from rlvr.data.problems import make_problems

    write_jsonl(make_problems(600, seed=1, levels=[1]), tmp_path / "raw.jsonl")
    (tmp_path / "params.yaml").write_text("prepare: {heldout_fraction: 0.25}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tasks.prepare", "--raw", str(tmp_path / "raw.jsonl"),
         "--base", str(tiny_model), "--out", str(full_disk / "prepared"),
         "--report", str(tmp_path / "report.json"), "--params", str(tmp_path / "params.yaml")],
        cwd=ROOT, env=project_env(tmp_path), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "error: no space left on the device while writing" in result.stderr
    assert not (full_disk / "prepared").exists() and list(full_disk.iterdir()) == []
    assert not (tmp_path / "report.json").exists()
