"""The prepare and sft stages' command lines on the tiny model's real tokenizer: token limits are counted
in tokens, rows over them are left out and counted, and a limit that leaves nothing is a one-line error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from rlvr.config.schema import Markers
from rlvr.data.examples import to_sft_example
from rlvr.data.problems import make_problems
from rlvr.data.prompts import chat_prompt, conversation_ids, prompt_ids
from rlvr.files import ADAPTER_MANIFEST, read_jsonl, write_jsonl
from rlvr.training.models import load_tokenizer
from tests.conftest import ROOT, project_env

SHORT = make_problems(40, seed=1, levels=[1])
LONG = [
    {"problem": f"What is {i} + 1? " + "Read the question twice. " * 300, "answer": str(i + 1)}
    for i in range(3)
]


def run_stage(stage: str, tmp_path: Path, params: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, "-m", f"tasks.{stage}", *args, "--params", str(tmp_path / "params.yaml")],
        cwd=ROOT,
        env=project_env(tmp_path),
        capture_output=True,
        text=True,
    )


def prepare(tmp_path: Path, tiny_model: Path, max_prompt_tokens: int) -> subprocess.CompletedProcess:
    write_jsonl(SHORT + LONG, tmp_path / "raw.jsonl")
    params = {"prepare": {"heldout_fraction": 0.3, "max_prompt_tokens": max_prompt_tokens}}
    paths = ["--raw", tmp_path / "raw.jsonl", "--base", tiny_model, "--out", tmp_path / "prepared"]
    return run_stage("prepare", tmp_path, params, *map(str, paths), "--report", str(tmp_path / "report.json"))


def test_prepare_drops_the_prompts_over_the_limit_in_tokens(tiny_model, tmp_path):
    tokenizer = load_tokenizer(tiny_model)
    limit = max(len(prompt_ids(tokenizer, chat_prompt(row["problem"], Markers()))) for row in SHORT)
    assert limit < 250  # the long prompts hold thousands of tokens

    result = prepare(tmp_path, tiny_model, limit)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["drops"]["prompt_too_long"] == len(LONG)
    assert report["train"] + report["heldout"] + report["drops"]["duplicate"] == len(SHORT)
    kept = read_jsonl(tmp_path / "prepared" / "train.jsonl") + read_jsonl(
        tmp_path / "prepared" / "heldout.jsonl"
    )
    assert not any(row["problem"].startswith("What is 0 + 1?") for row in kept)


def test_prepare_with_a_limit_below_every_prompt_fails_in_one_line(tiny_model, tmp_path):
    result = prepare(tmp_path, tiny_model, 10)
    assert result.returncode == 1
    assert result.stderr.startswith("error: prepare:") and len(result.stderr.splitlines()) == 1
    assert f"'prompt_too_long': {len(SHORT + LONG)}" in result.stderr
    assert not (tmp_path / "prepared").exists()


def sft(tmp_path: Path, tiny_model: Path, rows: list[dict], max_length: int) -> subprocess.CompletedProcess:
    """The sft stage on `rows` as the prepared train set, on a copy of the tiny model as the base."""
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    (base / "rlvr_base.json").write_text(json.dumps({"name": "tiny-model", "dtype": "float32"}))
    write_jsonl(rows, tmp_path / "prepared" / "train.jsonl")
    write_jsonl(rows[:2], tmp_path / "prepared" / "heldout.jsonl")  # the learning curve's problems
    params = {
        "model": {"dtype": "float32"},
        "lora": {"r": 4, "alpha": 8},
        "sft": {"max_steps": 1, "batch_size": 2, "max_length": max_length, "eval_problems": 2},
    }
    paths = ["--data", tmp_path / "prepared", "--base", base, "--out", tmp_path / "sft"]
    paths += ["--log", tmp_path / "sft.jsonl", "--curve", tmp_path / "curve_sft.json"]
    paths += ["--checkpoints", tmp_path / "checkpoints"]
    return run_stage("sft", tmp_path, params, *map(str, paths))


def test_sft_leaves_out_the_examples_longer_than_max_length(tiny_model, tmp_path):
    """The trainer would cut a long example at max_length, inside its answer: it is left out instead."""
    short = make_problems(6, seed=2, levels=[1])
    long = [
        {**row, "solution": row["solution"] + " Check: " + "1 + 1 = 2. " * 60}
        for row in make_problems(2, 9, [1])
    ]
    no_solution = [{**SHORT[0], "solution": ""}]
    tokenizer = load_tokenizer(tiny_model)

    def tokens(row: dict) -> int:
        example = to_sft_example(row, Markers())
        return len(conversation_ids(tokenizer, example["prompt"] + example["completion"]))

    max_length = max(map(tokens, short))
    assert min(map(tokens, long)) > max_length

    result = sft(tmp_path, tiny_model, short + long + no_solution, max_length)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "sft" / ADAPTER_MANIFEST).read_text())
    assert manifest["examples"] == len(short)
    assert manifest["left_out"] == {"no_solution": 1, "too_long": len(long)}


def test_sft_with_every_example_too_long_fails_in_one_line(tiny_model, tmp_path):
    result = sft(tmp_path, tiny_model, make_problems(4, seed=2, levels=[1]), max_length=50)
    assert result.returncode == 1
    assert result.stderr.startswith("error: sft.max_steps is 1") and len(result.stderr.splitlines()) == 1
    assert "'too_long': 4" in result.stderr and "sft.max_length=50" in result.stderr
    assert not (tmp_path / "sft").exists()


def test_the_select_stage_passes_every_problem_on_when_off_and_refuses_a_band_nothing_is_in(
    tiny_model, tmp_path
):
    """Off, the training set goes on as it is; on, each problem is answered `samples` times by the model
    GRPO starts from, and a band no problem falls in (the random tiny model answers nothing right) is a
    one-line error that shows the pass-rate histogram, with nothing written."""
    write_jsonl(SHORT, tmp_path / "prepared" / "train.jsonl")
    (tmp_path / "sft").mkdir()
    args = ["--data", tmp_path / "prepared", "--base", tiny_model, "--sft", tmp_path / "sft"]
    args += ["--out", tmp_path / "selected", "--report", tmp_path / "selection.json"]
    small = {"evaluate": {"max_new_tokens": 8}, "train": {"max_completion_length": 8}}
    result = run_stage("select", tmp_path, small, *map(str, args))
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_jsonl(tmp_path / "selected" / "train.jsonl") == SHORT
    assert json.loads((tmp_path / "selection.json").read_text()) == {
        "enabled": False,
        "problems": 40,
        "kept": 40,
    }
    shutil.rmtree(tmp_path / "selected")
    (tmp_path / "selection.json").unlink()
    on = small | {"select": {"enabled": True, "samples": 3, "max_problems": 6, "batch_size": 6}}
    result = run_stage("select", tmp_path, on, *map(str, args))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "no problem of 6 has a pass rate inside [0.0, 1.0]" in line and "'0/3': 6" in line
    assert not (tmp_path / "selected").exists() and not (tmp_path / "selection.json").exists()


def test_the_train_stage_samples_more_rounds_when_every_group_ties_and_evaluate_reports_pass_at_k(
    tiny_model, tmp_path
):
    """Dynamic sampling through the real train stage: on the random tiny model every rlvr reward ties in
    every group, so each round samples `max_sampling_rounds` batches, finds no signal, and trains on the
    tied groups; the log says so. The evaluate stage then samples `pass_k` answers per problem."""
    from rlvr.files import read_log
    from tests.stages import evaluate_stage, stage_project, train_stage

    project = stage_project(
        tmp_path, tiny_model, train={"dynamic_sampling": True, "max_sampling_rounds": 3},
        evaluate={"max_problems": 6, "max_new_tokens": 8, "batch_size": 4, "pass_k": 2},
    )  # fmt: skip
    train_stage(project)
    log = read_log(project / "logs" / "grpo.json")
    rounds = [row for row in log if "dynamic_sampling/rounds" in row]
    assert len(rounds) == 2
    for row in rounds:
        assert row["dynamic_sampling/rounds"] == 3 and row["dynamic_sampling/generated_groups"] == 3
        assert row["dynamic_sampling/trained_groups_with_signal"] == 0
        assert row["dynamic_sampling/trained_tied_groups"] == 1 and row["frac_reward_zero_std"] == 1.0
    evaluate_stage(project)
    sampled = json.loads((project / "sampled.json").read_text())
    assert set(sampled) == {"base", "grpo", "comparisons"}
    assert sampled["base"]["samples"] == 2 and sampled["base"]["problems"] == 6
    assert 0.0 <= sampled["grpo"]["pass@1"] <= sampled["grpo"]["pass@2"] <= 1.0
    assert {c["metric"] for c in sampled["comparisons"]} == {"pass@1", "pass@2"}


def test_evaluate_and_report_refuse_an_arm_that_is_a_path(tmp_path):
    """`--model ../../../etc` would read <models-dir>/../../../etc, as would the report's `--arm`: one line,
    before anything is read."""
    from tests.stages import STAGE_ENV, stage_command

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"evaluate": {"max_problems": 8}}))
    paths = {name: tmp_path / name for name in ("data", "base")}
    evaluate = stage_command(
        tmp_path, "evaluate", **paths, model="../../../etc", models_dir=tmp_path / "models",
        out=tmp_path / "evaluations" / "x",
    )  # fmt: skip
    report = stage_command(
        tmp_path, "report", evaluations=tmp_path / "evaluations", sft=tmp_path / "sft",
        sft_log=tmp_path / "sft.json", arm="../../../etc", models_dir=tmp_path / "models",
        logs_dir=tmp_path / "logs", metrics=tmp_path / "eval.json", arms_report=tmp_path / "arms.json",
        predictions=tmp_path / "p.jsonl", plots=tmp_path / "plots", sampled_metrics=tmp_path / "s.json",
    )  # fmt: skip
    for command in (evaluate, report):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=STAGE_ENV)
        assert result.returncode == 1
        assert result.stderr == (
            "error: --arm '../../../etc' is not an arm's name: name one of dvc.yaml's vars.arms (such as "
            "grpo), not a path\n"
        )
    assert not (tmp_path / "evaluations").exists() and not (tmp_path / "eval.json").exists()
