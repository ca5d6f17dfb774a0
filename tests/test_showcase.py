"""`make showcase`: replicates of the pipeline's own stages over data seeds, as DVC experiments, pooled over
data seeds (the verdict) and over problems (for reference); (slow) a small showcase end to end, resumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.showcase import (
    experiment_name,
    finished_experiments,
    main,
    matched_sft_steps,
    overrides,
    pooled,
)
from rlvr.evaluation.stats import pooled_problems, replicate_interval
from tests.conftest import git, make_project, project_env


def replicate(data_seed: int, grpo_seed: int, fixed: int, broken: int, n: int = 100) -> dict:
    comparison = {"from": "sft", "to": "grpo", "delta": (fixed - broken) / n, "fixed": fixed,
                  "broken": broken, "n": n, "ci_low": -0.1, "ci_high": 0.1, "p_value": 0.5}  # fmt: skip
    return {"data_seed": data_seed, "grpo_seed": grpo_seed, "comparison": comparison, "sft": 0.4, "grpo": 0.4,
            "tied": 0.5, "grpo_minutes": 5.0}  # fmt: skip


def test_the_verdict_is_over_data_seeds_and_grpo_seeds_are_reported_apart():
    results = {
        "a": replicate(1, 0, 10, 4), "b": replicate(1, 1, 6, 6),  # data seed 1: +6 and 0 -> +3 on average
        "c": replicate(2, 0, 3, 8), "d": replicate(3, 0, 9, 5),
    }  # fmt: skip
    summary = pooled(results, ["train.max_steps=20"])
    assert summary["per_data_seed_delta"] == {
        1: pytest.approx(0.03),
        2: pytest.approx(-0.05),
        3: pytest.approx(0.04),
    }
    assert summary["over_data_seeds"] == replicate_interval([0.03, -0.05, 0.04], names=("sft", "grpo"))
    p_value = summary["over_data_seeds"]["p_value"]
    assert summary["verdict"].endswith(f"(t interval over 3 data seeds, p = {p_value:.3f})")
    assert summary["problem_level"] == pooled_problems([r["comparison"] for r in results.values()])
    assert summary["problem_level"]["n"] == 400 and set(summary["grpo_seed_spread"]) == {1}
    assert summary["recipe"] == ["train.max_steps=20"]


def test_the_pooled_numbers_match_a_hand_computation_of_an_asymmetric_example():
    """Data seeds that disagree in sign and size, worked out by hand: a sign flipped anywhere in the pooling
    (a seed's delta, the mean, the interval, the problem-level sum) moves a number below."""
    results = {
        "a": replicate(1, 0, 10, 4), "b": replicate(1, 1, 6, 6),  # +6 and 0 points: data seed 1 is +3
        "c": replicate(2, 0, 3, 8),  # -5 points
        "d": replicate(3, 0, 9, 5),  # +4 points
    }  # fmt: skip
    summary = pooled(results, [])
    # mean of (+3, -5, +4) = +2/3 points; sample sd = sqrt(((7/3)^2 + (17/3)^2 + (10/3)^2) / 2)
    # = 4.933 points; half-width = t(0.975, 2 df) 4.3027 x 4.933 / sqrt(3) = 12.254 points
    over = summary["over_data_seeds"]
    assert over["delta"] == pytest.approx(2 / 300)
    assert (over["ci_low"], over["ci_high"]) == (
        pytest.approx(-0.11587, abs=1e-5),
        pytest.approx(0.12921, abs=1e-5),
    )
    assert over["p_value"] == pytest.approx(0.8367, abs=1e-4) and over["n"] == 3
    # every problem pooled: (10 + 6 + 3 + 9) fixed, (4 + 6 + 8 + 5) broken of 400: +5/400
    problems = summary["problem_level"]
    assert (problems["fixed"], problems["broken"], problems["n"]) == (28, 23, 400)
    assert problems["delta"] == pytest.approx(5 / 400)
    assert (over["from"], over["to"]) == ("sft", "grpo")


def test_each_replicate_is_an_experiment_of_the_pipeline_that_registers_nothing():
    assert experiment_name("dev", 11, 0) == "dev-d11-g0"
    assert overrides("data.builtin.seed", 11, 2, ["select.enabled=true"]) == [
        "data.builtin.seed=11", "train.seed=2", "registry.register_versions=false", "select.enabled=true",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "args, says",
    [(["--data-seeds", "5"], "at least 2 data seeds"),
     (["--data-seeds", "5,x"], "comma-separated integers"),
     (["--data-seeds", "5,5"], "each seed once"),
     (["--set", "train.max_steps"], "key=value"),
     (["--more-sft", "--set", "sft.max_steps=0"], "the recipe skips SFT")],
)  # fmt: skip
def test_bad_options_are_refused_before_any_work(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    app = typer.Typer()
    app.command()(main)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and says in " ".join(result.output.split())


@pytest.mark.slow
def test_a_small_showcase_runs_dvc_experiments_and_resumes(tmp_path, tiny_model, monkeypatch):
    """Two data seeds through the pipeline as DVC experiments, then SFT given GRPO's minutes on each (its
    steps from the replicate's own timings, paired on the same held-out problems), then resumed."""
    project = make_project(tmp_path / "project", tiny_model)
    env = project_env(project)
    command = [sys.executable, "-m", "benchmarks.showcase", "--data-seeds", "1,2", "--jobs", "2",
               "--prefix", "t", "--out", str(tmp_path / "summary.json"), "--more-sft"]  # fmt: skip
    first = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["replicates"]) == {"t-d1-g0", "t-d2-g0"}
    assert summary["problem_level"]["n"] == sum(r["comparison"]["n"] for r in summary["replicates"].values())
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    shown = json.loads(listed.stdout)
    names = {
        rev["name"] for b in shown for e in b.get("experiments") or [] for rev in e["revs"] if rev.get("name")
    }
    assert {"t-d1-g0", "t-d2-g0", "t-d1-sft", "t-d2-sft"} <= names
    more = summary["more_sft"]
    for seed in ("1", "2"):
        run = summary["replicates"][f"t-d{seed}-g0"]
        extra = run["grpo_minutes"] + run["select_minutes"]
        steps = matched_sft_steps(run["sft_steps"], run["sft_minutes"], extra)
        compared = more["per_data_seed"][seed]
        assert compared["sft_steps"] == steps > run["sft_steps"]
        assert compared["n"] == run["comparison"]["n"] and (compared["from"], compared["to"]) == (
            "more_sft",
            "grpo",
        )
        assert more["per_data_seed_delta"][seed] == compared["delta"]
    sft_params = next(
        rev["data"]["params"]["params.yaml"]["data"]
        for b in shown
        for e in b.get("experiments") or []
        for rev in e["revs"]
        if rev.get("name") == "t-d1-sft"
    )
    assert sft_params["train"]["max_steps"] == 1 and sft_params["sft"]["max_steps"] == steps_of(more, "1")
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert client.search_registered_models() == []  # replicates register nothing
    runs = client.search_runs(
        [client.get_experiment_by_name("rlvr").experiment_id], "tags.`rlvr.role` = 'pipeline'"
    )
    assert {run.data.tags["dvc.experiment"] for run in runs} == {"t-d1-g0", "t-d2-g0", "t-d1-sft", "t-d2-sft"}
    again = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("finished earlier, kept") == 4
    # a commit made meanwhile (say while the queue ran) hides nothing made from the commit they started on
    baseline = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True)
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "later")
    monkeypatch.chdir(project)
    assert set(finished_experiments(baseline.stdout.strip())) == names


def steps_of(more_sft: dict, seed: str) -> int:
    return more_sft["per_data_seed"][seed]["sft_steps"]
