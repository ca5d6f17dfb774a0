"""reasoning-gym rows through the stages on the tiny model: fetch (byte-identical rows from the same params)
and prepare on the reasoning-gym profile; GRPO whose `task_score` reward gets each row's task and metadata
from TRL; and the evaluate stage on those rows (their task's verifier) beside two benchmark suites read
offline from local files in the hub datasets' own columns."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from rlvr.config.profiles import apply_overrides, profile_values, use_profile
from rlvr.config.schema import parse_params
from rlvr.data.gym import SAFE_TASKS, make_rows
from rlvr.data.prepare import clean_rows
from rlvr.files import read_jsonl, read_log, write_jsonl
from rlvr.mlops.dvcfile import paths
from tests.conftest import ROOT, dvc, git, make_project
from tests.stages import evaluate_stage, run_stage, stage_project, train_stage

# MATH-500's columns (HuggingFaceH4/MATH-500, test.jsonl) and GSM8K's (openai/gsm8k, main/test parquet).
MATH500 = [
    {"problem": "What is $1+1$?", "solution": "$1+1=2$.", "answer": "2", "subject": "Prealgebra", "level": 1,
     "unique_id": "test/prealgebra/1.json"},
    {"problem": "Simplify $\\frac{6}{8}$.", "solution": "Divide by 2.", "answer": "\\frac{3}{4}",
     "subject": "Prealgebra", "level": 2, "unique_id": "test/prealgebra/2.json"},
    {"problem": "Who wins?", "solution": "Evelyn.", "answer": "Evelyn", "subject": "Algebra",
     "level": 2, "unique_id": "test/algebra/3.json"},
]  # fmt: skip
GSM8K = {
    "question": [
        "Tom has 3 apples and buys 4 more. How many apples?",
        "A box holds 1,200 pins; 200 fall. Left?",
    ],
    "answer": ["3 + 4 = <<3+4=7>>7\n#### 7", "1,200 - 200 = <<1200-200=1000>>1,000\n#### 1,000"],
}


def gym_params(tmp_path, size: int) -> dict:
    values = profile_values(ROOT, "reasoning-gym")
    values["data"]["reasoning_gym"]["size"] = size
    values["prepare"]["heldout_fraction"] = 0.2
    parse_params(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return values


def test_fetch_makes_the_same_bytes_twice_and_prepare_keeps_each_row_s_task(tiny_model, tmp_path):
    values = gym_params(tmp_path, size=80)
    first, second = tmp_path / "raw1.jsonl", tmp_path / "raw2.jsonl"
    for out in (first, second):
        assert "80 rows from the reasoning_gym source" in run_stage(tmp_path, "fetch", out=out)
    assert first.read_bytes() == second.read_bytes()
    raw = read_jsonl(first)
    names = {task["name"] for task in values["data"]["reasoning_gym"]["tasks"]}
    assert {row["task"] for row in raw} == names
    run_stage(
        tmp_path,
        "prepare",
        raw=first,
        base=tiny_model,
        out=tmp_path / "prepared",
        report=tmp_path / "data.json",
    )
    report = json.loads((tmp_path / "data.json").read_text())
    train = read_jsonl(tmp_path / "prepared" / "train.jsonl")
    heldout = read_jsonl(tmp_path / "prepared" / "heldout.jsonl")
    assert report["train"] == len(train) and report["heldout"] == len(heldout) and heldout
    assert report["drops"]["unverifiable_answer"] == 0
    by_problem = {row["problem"].strip(): row for row in raw}
    for row in train + heldout:
        source = by_problem[row["problem"]]
        assert row["task"] == source["task"] in SAFE_TASKS and row["metadata"] == source["metadata"]
        assert row["solution"] == source["solution"] != ""


@pytest.mark.slow  # a minute and more; the rows, reward and metric are tested without stages too
def test_grpo_scores_gym_rows_with_task_score_and_evaluate_runs_the_benchmark_suites(tiny_model, tmp_path):
    rewards = {"match_format_approximately": 1.0, "task_score": 1.0, "accuracy": 0.0}
    project = stage_project(tmp_path, tiny_model, train={"rewards": rewards})
    rows, _ = clean_rows(make_rows([(name, 1.0, {}) for name in SAFE_TASKS], size=24, seed=1))
    write_jsonl(rows[:16], project / "data" / "train.jsonl")
    write_jsonl(rows[16:], project / "data" / "heldout.jsonl")
    write_jsonl(MATH500, project / "math500" / "test.jsonl")
    (project / "gsm8k").mkdir()
    pq.write_table(pa.table(GSM8K), project / "gsm8k" / "test-00000-of-00001.parquet")
    values = yaml.safe_load((project / "params.yaml").read_text())
    values["evaluate"] |= {
        "suites": ["heldout", "math500", "gsm8k"],
        "benchmarks": {
            "math500": {"layout": "math500", "path": str(project / "math500" / "test.jsonl")},
            "gsm8k": {"layout": "gsm8k", "path": str(project / "gsm8k"), "max_problems": 2},
        },
    }
    parse_params(values)
    (project / "params.yaml").write_text(yaml.safe_dump(values))

    train_stage(project)
    log = read_log(project / "logs" / "grpo.json")
    # None (no task reached the reward) would be logged as NaN; 0.0 and up is the verifier's score
    assert log and all(math.isfinite(row["rewards/task_score/mean"]) for row in log)

    output = run_stage(project, "fetch", out=project / "raw.jsonl", suites=project / "suites.jsonl")
    assert "benchmark math500: 3 rows" in output and "benchmark gsm8k: 2 rows" in output
    suites = read_jsonl(project / "suites.jsonl")
    assert [(row["suite"], row["answer"]) for row in suites] == [
        ("math500", "2"), ("math500", "\\frac{3}{4}"), ("math500", "Evelyn"), ("gsm8k", "7"),
        ("gsm8k", "1000"),
    ]  # fmt: skip
    output = evaluate_stage(
        project, suites=project / "suites.jsonl", suites_metrics=project / "suites.json",
        suites_predictions=project / "suites_predictions.jsonl",
    )  # fmt: skip
    assert "math500: 1 of 3 golds math-verify cannot read, left out" in output

    metrics = json.loads((project / "eval.json").read_text())
    assert list(metrics) == ["base", "grpo", "comparisons"]  # eval.json stays the held-out suite
    assert metrics["base"]["problems"] == len(rows[16:])
    benchmarks = json.loads((project / "suites.json").read_text())
    assert list(benchmarks) == ["math500", "gsm8k"]
    for name, n in (("math500", 2), ("gsm8k", 2)):
        assert list(benchmarks[name]) == ["base", "grpo", "comparisons"]
        assert benchmarks[name]["base"]["problems"] == benchmarks[name]["grpo"]["problems"] == n
        entry = benchmarks[name]["grpo"]
        assert 0 <= entry["accuracy_ci_low"] <= entry["accuracy"] <= entry["accuracy_ci_high"] <= 1
        (comparison,) = benchmarks[name]["comparisons"]
        assert (comparison["from"], comparison["to"], comparison["n"]) == ("base", "grpo", n)

    heldout = read_jsonl(project / "predictions.jsonl")
    assert len(heldout) == 2 * len(rows[16:]) and all("suite" not in p for p in heldout)
    predictions = read_jsonl(project / "suites_predictions.jsonl")
    assert [(p["suite"], p["model"]) for p in predictions] == [
        (suite, model) for suite in ("math500", "gsm8k") for model in ("base", "grpo") for _ in range(2)
    ]
    for name in ("math500", "gsm8k"):
        for model in ("base", "grpo"):
            right = [p["correct"] for p in predictions if p["suite"] == name and p["model"] == model]
            assert benchmarks[name][model]["accuracy"] == sum(right) / len(right)


@pytest.mark.slow
def test_dvc_repro_runs_the_reasoning_gym_profile_end_to_end_offline(tiny_model, tmp_path):
    """`rlvr use-profile reasoning-gym`, shrunk to the tiny model's sizes, through the real `dvc repro`."""
    project = make_project(tmp_path / "project", tiny_model)
    use_profile(project, "reasoning-gym")
    tiny = yaml.safe_load((ROOT / "profiles" / "tiny.yaml").read_text())
    overrides = [f"{section}.{key}={value}" for section in ("model", "lora", "sft", "train", "evaluate")
                 for key, value in tiny[section].items()]  # fmt: skip
    apply_overrides(project, [*overrides, "data.reasoning_gym.size=60", "prepare.heldout_fraction=0.15"])
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "reasoning-gym")
    dvc(project, "repro")
    files = paths(project)
    raw = read_jsonl(files["raw"])
    assert len(raw) == 60 and all(row["task"] in SAFE_TASKS for row in raw)
    assert all("task" in row for row in read_jsonl(files["prepared"] / "heldout.jsonl"))
    log = read_log(files["logs"] / "grpo.json")
    assert log and all(math.isfinite(row["rewards/task_score/mean"]) for row in log)
    assert list(json.loads(files["metrics"].read_text()))[-1] == "comparisons"
    assert json.loads(files["suites_metrics"].read_text()) == {}
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
