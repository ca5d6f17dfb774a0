"""End to end: the real `dvc repro` on the tiny profile in temporary git+DVC repositories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlvr.config.profiles import apply_overrides
from rlvr.files import read_jsonl, read_log
from rlvr.hashing import hash_path
from rlvr.locks import PARAMS_LOCK
from rlvr.mlops.dvcfile import paths, stage_order
from tests.conftest import dvc, project_env, ran_stages, registry_client

ORDER = [
    "fetch", "model", "prepare", "sft", "select", "train@grpo", "train@grpo_from_base", "evaluate@base",
    "evaluate@sft", "evaluate@grpo", "evaluate@grpo_from_base", "report", "register",
]  # fmt: skip
STAGES = set(ORDER)
MODELS = ["base", "sft", "grpo"]  # the tiny profile leaves the base arm off (its stage says so)


def test_full_repro_writes_every_output_and_registers_a_challenger(reproduced):
    project, state = reproduced
    assert state.result() == {stage: "ran" for stage in ORDER}
    files = paths(project)
    assert len(read_jsonl(files["raw"])) == 60
    train, heldout = (
        read_jsonl(files["prepared"] / "train.jsonl"),
        read_jsonl(files["prepared"] / "heldout.jsonl"),
    )
    assert train and heldout
    assert not {r["problem"] for r in train} & {r["problem"] for r in heldout}
    report = json.loads(files["data_report"].read_text())
    assert report["train"] == len(train) and report["heldout"] == len(heldout)
    assert (files["base"] / "config.json").is_file()
    for adapter in (files["sft"], files["grpo"]):
        assert (adapter / "adapter_config.json").is_file() and (
            adapter / "adapter_model.safetensors"
        ).is_file()
    log = read_log(files["logs"] / "grpo.json")
    assert [row["step"] for row in log] == [1, 2] and "rewards/accuracy/mean" in log[0]
    assert json.loads((files["grpo"] / "rlvr_adapter.json").read_text())["from_sft"] is True
    skipped = json.loads((files["models"] / "grpo_from_base" / "rlvr_adapter.json").read_text())
    assert skipped == {
        "trained": False,
        "stage": "train",
        "arm": "grpo_from_base",
        "reason": "train.base_arm is off",
    }
    assert read_log(files["logs"] / "grpo_from_base.json") == []
    metrics = json.loads(files["metrics"].read_text())
    assert list(metrics) == [*MODELS, "comparisons"]
    for name in MODELS:
        values = metrics[name]
        assert 0 <= values["accuracy_ci_low"] <= values["accuracy"] <= values["accuracy_ci_high"] <= 1
        assert 0 <= values["format"] <= 1 and values["problems"] == 4
    pairs = [(c["from"], c["to"]) for c in metrics["comparisons"]]
    assert pairs == [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i + 1 :]]
    for c in metrics["comparisons"]:
        assert set(c) == {"from", "to", "delta", "ci_low", "ci_high", "p_value", "n", "fixed", "broken"}
        assert c["n"] == 4 and c["delta"] == (c["fixed"] - c["broken"]) / 4
        assert c["ci_low"] <= c["delta"] <= c["ci_high"] and 0 <= c["p_value"] <= 1
        before = [p["correct"] for p in read_jsonl(files["predictions"]) if p["model"] == c["from"]]
        after = [p["correct"] for p in read_jsonl(files["predictions"]) if p["model"] == c["to"]]
        assert c["delta"] == (sum(after) - sum(before)) / 4
    arms = json.loads(files["arms_report"].read_text())
    assert set(arms["arms"]) == {"sft", "grpo"}
    assert (
        arms["arms"]["grpo"]["spent"]["steps"] == 2 and arms["arms"]["grpo"]["spent"]["generated_tokens"] > 0
    )
    assert arms["conclusions"] and all(isinstance(line, str) for line in arms["conclusions"])
    predictions = read_jsonl(files["predictions"])
    assert len(predictions) == 12 and {p["model"] for p in predictions} == set(MODELS)
    assert len({p["id"] for p in predictions}) == 4
    assert sorted(p.name for p in files["plots"].glob("*.png")) == ["before_after.png", "training.png"]

    record = json.loads(files["registry"].read_text())
    client = registry_client(project)
    version = client.get_model_version_by_alias("rlvr-math", "challenger")
    assert int(version.version) == record["version"] == 1
    assert (
        int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1
    )  # the first is champion
    assert float(version.tags["heldout_accuracy"]) == metrics["grpo"]["accuracy"]
    assert version.tags["base_model"] == "tiny-model"
    assert version.tags["data_md5"] != "unknown" and len(version.tags["git_commit"]) >= 40
    # the pipeline leaves the checkout clean: the .gitignore files DVC writes are the ones shipped
    assert not version.tags["git_commit"].endswith("+dirty")
    run = client.get_run(record["run_id"])
    assert run.data.metrics["heldout/grpo/accuracy"] == metrics["grpo"]["accuracy"]
    assert run.data.params["train.max_steps"] == "2"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"predictions.json", "plots"} <= artifacts


def test_dvc_plots_render_the_logged_curves_and_the_charts(project_copy, tmp_path):
    """`dvc plots show` draws what the stages logged: each step's values of every declared field of every
    log, and both PNG charts."""
    files = paths(project_copy)
    shown = json.loads(dvc(project_copy, "plots", "show", "--json").stdout)["data"]
    assert sorted(shown) == [  # no chart of the base arm alone: empty when it is off, as here
        "GRPO groups with no learning signal", "GRPO rewards per step", "Held-out accuracy by minute",
        "Held-out accuracy by step", "SFT loss per step", "plots/before_after.png", "plots/training.png",
    ]  # fmt: skip
    curves = {name: read_log(files["logs"] / f"curve_{name}.json") for name in ("sft", "grpo")}
    assert [[point["step"] for point in curve] for curve in curves.values()] == [[0, 1, 2], [0, 1, 2]]
    for chart, x in (("Held-out accuracy by step", "step"), ("Held-out accuracy by minute", "minutes")):
        drawn = sorted((row[x], row["accuracy"]) for row in shown[chart][0]["content"]["data"]["values"])
        assert drawn == sorted((point[x], point["accuracy"]) for curve in curves.values() for point in curve)
    spec = shown["GRPO rewards per step"][0]["content"]
    assert spec["encoding"]["x"]["title"] == "GRPO step" and "mean reward per completion" in json.dumps(spec)
    logs = {name: read_log(files["logs"] / f"{name}.json") for name in ("sft", "grpo")}
    rewards = shown["GRPO rewards per step"][0]["content"]["data"]["values"]
    # one line per log and field (the base arm's log is empty here: off in the tiny profile)
    drawn = {(row["filename::field"], row["step"]): row["dvc_inferred_y_value"] for row in rewards}
    expected = {
        (f"grpo.json::{field}", row["step"]): row[field]
        for row in logs["grpo"]
        for field in ("reward", "rewards/accuracy/mean", "rewards/check_answer/mean")
    }
    assert expected.items() <= drawn.items() and len(expected) == 6
    sft = shown["SFT loss per step"][0]["content"]["data"]["values"]
    assert [(row["step"], row["loss"]) for row in sft] == [(row["step"], row["loss"]) for row in logs["sft"]]
    for chart in ("before_after", "training"):
        assert (
            Path(shown[f"plots/{chart}.png"][0]["url"]).read_bytes()
            == (files["plots"] / f"{chart}.png").read_bytes()
        )
    dvc(project_copy, "plots", "show", "--out", str(tmp_path / "html"))
    page = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "frac_reward_zero_std" in page and "workspace_plots_training.png" in page
    # the project's template (.dvc/plots.html): a charset, and where the offline page is
    assert '<meta charset="utf-8">' in page and "<code>rlvr plots</code>" in page
    # `rlvr plots`: the same plots in one page that needs no network (no script at all)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "plots", "--root", str(project_copy)],
        capture_output=True, text=True, env=project_env(project_copy),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    offline = (project_copy / "dvc_plots" / "offline.html").read_text(encoding="utf-8")
    assert (
        '<meta charset="utf-8">' in offline
        and "<script" not in offline
        and "http" not in offline.split("<svg")[0]
    )
    # every curve, each with data (none left empty), and the two charts
    vega = [name for name, renders in shown.items() if renders[0].get("type") == "vega"]
    assert all(shown[name][0]["content"]["data"]["values"] for name in vega)
    assert offline.count("<svg") == len(vega) and offline.count("data:image/png;base64,") == 2


def test_stage_order_follows_the_dag(reproduced):
    assert stage_order(reproduced[0]) == ORDER


def test_second_repro_runs_nothing(reproduced):
    result = dvc(reproduced[0], "repro")
    assert ran_stages(result.stdout) == set()
    assert all(f"Stage '{stage}' didn't change, skipping" in result.stdout for stage in STAGES)


def test_a_model_not_trained_is_written_as_not_evaluated(reproduced):
    """The base arm is off in the tiny profile: its evaluate stage wrote that it was not evaluated, and
    why, with no completion; every other model its completions, on the same held-out problems."""
    files = paths(reproduced[0])
    skipped = files["evaluations"] / "grpo_from_base"
    assert json.loads((skipped / "scores.json").read_text()) == {
        "evaluated": False, "reason": "train.base_arm is off", "summary": {}, "pass_k": 0,
    }  # fmt: skip
    assert read_jsonl(skipped / "predictions.jsonl") == read_jsonl(skipped / "suites.jsonl") == []
    heldout = read_jsonl(files["predictions"])
    for name in MODELS:
        rows = read_jsonl(files["evaluations"] / name / "predictions.jsonl")
        assert rows == [row for row in heldout if row["model"] == name]
        scores = json.loads((files["evaluations"] / name / "scores.json").read_text())
        assert scores["evaluated"] and scores["summary"]["heldout"]["problems"] == 4


def test_a_logging_interval_is_no_stage_param(project_copy):
    """How often MLflow gets sample completions (`tracking`) cannot change what a stage makes: changing it
    leaves every stage up to date, sft and train included (they read it without listing it)."""
    apply_overrides(project_copy, ["tracking.completions_every=3"])
    assert "completions_every: 3" in (project_copy / "params.yaml").read_text()
    assert json.loads(dvc(project_copy, "status", "--json").stdout) == {}


@pytest.mark.slow  # the flow's training-failure test covers the same stage failure in the default suite
def test_failing_stage_keeps_earlier_outputs_and_registry(project_copy):
    files = paths(project_copy)
    before = {name: hash_path(files[name]) for name in ("raw", "prepared", "base", "sft")}
    # A valid name (params refuse unknown ones) that transformers refuses without an eval strategy
    apply_overrides(project_copy, ["train.lr_scheduler_type=reduce_lr_on_plateau"])
    result = dvc(project_copy, "repro", check=False)
    assert result.returncode != 0
    assert "lr_scheduler_type reduce_lr_on_plateau requires an eval strategy" in result.stderr + result.stdout
    assert "failed to reproduce 'train@grpo'" in result.stderr
    assert {name: hash_path(files[name]) for name in before} == before
    assert len(registry_client(project_copy).search_model_versions("name='rlvr-math'")) == 1


@pytest.mark.slow  # two minutes (make test-slow); checkpoint choice on resume: tests/test_training.py
def test_a_training_param_change_reruns_train_evaluate_register_and_survives_a_kill(project_copy):
    """Changing train params reruns the training, the evaluation of the arm retrained, the report and the
    registration, and nothing else; killing that run mid-training and running
    `dvc repro` again resumes from the last complete checkpoint."""
    files = paths(project_copy)
    sft_before = hash_path(files["sft"])
    # (the base arm off whatever the profile says: it would train 8 steps more; its resume is the same)
    apply_overrides(project_copy, ["train.max_steps=8", "train.save_steps=1", "train.base_arm=false"])
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=project_copy,
        env=project_env(project_copy),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    checkpoints = project_copy / "checkpoints"
    while not list(checkpoints.glob("grpo-*/checkpoint-2/trainer_state.json")):
        assert process.poll() is None and time.monotonic() < deadline, "training ended before checkpoint 2"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the whole `dvc repro`, as a crash or Ctrl-\ would
    process.wait()
    saved = max(int(p.name.split("-")[1]) for p in checkpoints.glob("grpo-*/checkpoint-*"))
    assert saved < 8

    result = dvc(project_copy, "repro")
    # the arm retrained is decoded again, no other model (the skipped arm wrote the same manifest again)
    ran = {"train@grpo", "train@grpo_from_base", "evaluate@grpo", "report", "register"}
    assert ran_stages(result.stdout) == ran
    assert "resuming from" in result.stdout
    manifest = json.loads((files["grpo"] / "rlvr_adapter.json").read_text())
    assert manifest["steps"] == 8 and manifest["resumed_from_step"] >= 2
    assert [row["step"] for row in read_log(files["logs"] / "grpo.json")] == list(range(1, 9))
    assert not list(checkpoints.glob("grpo-*"))  # cleaned up once the adapter is written
    assert hash_path(files["sft"]) == sft_before
    client = registry_client(project_copy)
    assert int(client.get_model_version_by_alias("rlvr-math", "challenger").version) == 2
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1
    # the resumed training continued its own MLflow run: one grpo run for these params, every step once
    # or (the steps between the checkpoint and the kill) twice, ending at step 8
    parent = client.get_run(client.get_model_version("rlvr-math", "2").run_id)
    grpo = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' and tags.`rlvr.stage` = 'grpo'",
    )
    assert len(grpo) == 1 and grpo[0].info.status == "FINISHED" and "rlvr.resumed" in grpo[0].data.tags
    steps = [m.step for m in client.get_metric_history(grpo[0].info.run_id, "reward")]
    assert sorted(set(steps)) == list(range(1, 9)) and steps[-1] == 8


def held(lock: Path) -> bool:
    """Whether another process holds this OS file lock (taking it for an instant when it is free)."""
    import zc.lockfile

    try:
        zc.lockfile.LockFile(str(lock)).close()
    except zc.lockfile.LockError:
        return True
    return False


@pytest.mark.slow  # under a minute alone, but the default suite's 10 minutes are spent (make test-slow)
def test_params_cannot_change_under_a_running_stage(project_copy):
    """With a real `dvc repro` running a stage: `rlvr use-profile` is refused and changes nothing; an
    editor's change (no lock) fails the stage, so dvc.lock never records params the stage did not use."""
    apply_overrides(project_copy, ["sft.max_steps=250"])  # a stage that lasts while the test acts
    params = project_copy / "params.yaml"
    locked_before = (project_copy / "dvc.lock").read_bytes()
    repro = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--single-item", "--force", "sft"],
        cwd=project_copy,
        env=project_env(project_copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not held(project_copy / PARAMS_LOCK):
        assert repro.poll() is None and time.monotonic() < deadline, "the sft stage never took the lock"
        time.sleep(0.1)
    written = params.read_bytes()
    switch = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "use-profile", "default", "--root", str(project_copy)],
        env=project_env(project_copy),
        capture_output=True,
        text=True,
    )
    assert switch.returncode == 1 and switch.stdout.startswith("error: ")
    assert len(switch.stdout.splitlines()) == 1 and "wait for it to finish" in switch.stdout
    assert params.read_bytes() == written
    assert repro.poll() is None, "the stage ended before the edit; make it longer"
    params.write_text(written.decode().replace("learning_rate: 0.0002", "learning_rate: 0.0003", 1))
    output = repro.communicate(timeout=300)[0]
    assert repro.returncode != 0, output[-3000:]
    assert "params.yaml changed while the stage ran, so its outputs follow the old values" in output
    assert (project_copy / "dvc.lock").read_bytes() == locked_before


@pytest.mark.slow  # half a minute on a shared machine: make test-resilience, which CI runs
def test_a_profile_switched_between_stages_stops_the_next_stage_in_one_line(project_copy):
    """`rlvr use-profile default` lands between two stages of a tiny-profile `dvc repro` (neither lock is
    held there): the next stage DVC runs refuses, in one line, to work on upstream outputs made with the
    other profile, and dvc.lock and the outputs stay as they were (no run mixing the two profiles)."""
    files = paths(project_copy)
    locked = (project_copy / "dvc.lock").read_bytes()
    upstream = {name: hash_path(files[name]) for name in ("raw", "base")}
    switch = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "use-profile", "default", "--root", str(project_copy)],
        env=project_env(project_copy),
        capture_output=True,
        text=True,
    )
    assert switch.returncode == 0, switch.stdout
    # the step `dvc repro` takes next, as the flow takes it: the stage after fetch and model
    result = dvc(project_copy, "repro", "--single-item", "--force", "prepare", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: params.yaml changed after stage 'fetch' ran (its values of data differ from dvc.lock; a "
        "profile switched during the run?), so 'prepare' would work on outputs made with other values; "
        "run `dvc repro` again"
    ], result.stderr
    assert (project_copy / "dvc.lock").read_bytes() == locked
    assert {name: hash_path(files[name]) for name in upstream} == upstream
