"""`make showcase`: the order its runs go in, what it refuses, and (slow) a small showcase end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.showcase import main, pool, runs
from rlvr.evaluation.stats import replicate_interval

ROOT = Path(__file__).resolve().parents[1]


def test_two_lanes_start_on_different_data_seeds():
    # the second run of data seed 0 starts only after one of the first two runs ended, so it finds the
    # SFT adapter made instead of waiting on the lock while a lane idles
    assert runs([0, 1, 2, 3, 4], [1, 2]) == [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (0, 3), (0, 4)]
    assert runs([], [1, 2]) == [(1, 0), (2, 0)]
    assert runs([3, 5], []) == [(0, 3), (0, 5)]


def test_runs_at_one_step_pool_into_a_t_interval_with_their_mean_minutes():
    def run(delta, minutes):
        return {"at_step": 5, "minutes": minutes, "comparison": {"delta": delta}}

    point = pool([run(0.07, 4.0), run(0.02, 5.0), run(0.03, 6.0)])
    assert point["pooled"] == replicate_interval([0.07, 0.02, 0.03], names=("sft", "grpo"))
    assert (point["at_step"], point["minutes"], point["deltas"]) == (5, 5.0, [0.07, 0.02, 0.03])
    assert point["verdict"].startswith("no significant difference between sft and grpo (+4.0 points")
    still = pool([run(0.0, 1.0), run(0.0, 1.0)])
    assert still["pooled"] is None and "same delta (+0.0 points)" in still["verdict"]


@pytest.mark.parametrize(
    "args, says",
    [(["--seeds", "0", "--data-seeds", ""], "at least 2 distinct runs"),
     (["--seeds", "0,1", "--data-seeds", "0"], "at least 2 distinct runs"),
     (["--seeds", "0,x"], "comma-separated integers"),
     (["--steps", "0"], "greater than or equal to 1")],
)  # fmt: skip
def test_bad_options_are_refused_before_any_work(tmp_path, args, says):
    import typer

    app = typer.Typer()
    app.command()(main)
    result = CliRunner().invoke(app, ["--work", str(tmp_path / "w"), *args])
    assert result.exit_code == 2 and says in " ".join(result.output.split())
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_a_small_showcase_runs_in_parallel_and_resumes(tmp_path):
    work = tmp_path / "showcase"
    small = ["--seeds", "0,1", "--data-seeds", "1", "--steps", "1", "--heldout", "8", "--tokens", "8",
             "--sft-steps", "2", "--jobs", "2", "--work", str(work)]  # fmt: skip
    command = [sys.executable, "-m", "benchmarks.showcase", *small]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    summary = json.loads((work / "showcase.json").read_text())
    assert summary["runs"] == [
        {"data_seed": 0, "seed": 0},
        {"data_seed": 1, "seed": 0},
        {"data_seed": 0, "seed": 1},
    ]
    files = sorted((work / "runs").glob("*.json"))
    assert [f.name for f in files] == ["data0-seed0.json", "data0-seed1.json", "data1-seed0.json"]
    results = {f.stem: json.loads(f.read_text()) for f in files}
    # one SFT adapter per data seed, which both runs of data seed 0 start from
    assert sorted(p.parent.parent.name for p in work.glob("*/sft-2/adapter_config.json")) == [
        "arithmetic-1",
        "arithmetic-1-data1",
    ]
    assert results["data0-seed0"]["before"] == results["data0-seed1"]["before"]
    deltas = [results[f"data{d}-seed{s}"]["comparison"]["delta"] for d, s in [(0, 0), (1, 0), (0, 1)]]
    assert summary["deltas"] == deltas
    if len(set(deltas)) > 1:
        assert summary["pooled"] == replicate_interval(deltas, names=("sft", "grpo"))
    else:
        assert summary["pooled"] is None and "same delta" in summary["verdict"]
    stamps = [f.stat().st_mtime_ns for f in files]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert again.stdout.count("done earlier, kept") == 3 and "done earlier" not in first.stdout
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert json.loads((work / "showcase.json").read_text())["deltas"] == deltas
