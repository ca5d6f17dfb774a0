"""Live MLflow tracking and the registered model, after a real `dvc repro` on the tiny profile."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rlvr.config.schema import load_params
from rlvr.files import read_jsonl, read_log
from rlvr.hashing import short_hash
from rlvr.mlops.dvcfile import paths
from rlvr.mlops.runs import INPUTS, ROLE
from tests.conftest import greedy_answers, project_env, registry_client
from tests.test_pipeline import MODELS


def pipeline_runs(client) -> list:
    experiment = client.get_experiment_by_name("rlvr").experiment_id
    return client.search_runs([experiment], filter_string=f"tags.`{ROLE}` = 'pipeline'")


def children(client, parent: str) -> dict:
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    return {run.info.run_name: run for run in runs}


def test_one_parent_run_with_a_child_per_stage_tracked_live(reproduced):
    project = reproduced[0]
    client = registry_client(project)
    [parent] = pipeline_runs(client)
    record = json.loads(paths(project)["registry"].read_text())
    assert parent.info.run_id == record["run_id"] and parent.info.status == "FINISHED"
    date, time, profile, params_hash = parent.info.run_name.split(" ")
    assert len(date) == 10 and len(time) == 5 and profile == "tiny" and len(params_hash) == 7
    assert record["run_name"] == parent.info.run_name
    assert parent.data.params["train.max_steps"] == "2" and parent.data.params["model.name"] == "tiny-model"
    assert parent.data.tags["data_md5"] != "none" and len(parent.data.tags[INPUTS]) == 16
    assert parent.data.tags["mlflow.note.content"].startswith("rlvr pipeline run in ")

    stages = children(client, parent.info.run_id)
    # the grpo_from_base arm is off in the tiny profile: its stage has nothing to train, so no run
    assert set(stages) == {"sft", "grpo", "evaluate"}
    for run in stages.values():
        assert run.info.status == "FINISHED"
        assert "system/cpu_utilization_percentage" in run.data.metrics  # MLflow's own system metrics
    # per-step metrics were logged by the training process itself, step by step
    assert [m.step for m in client.get_metric_history(stages["sft"].info.run_id, "loss")] == [1, 2]
    train_log = read_log(paths(project)["logs"] / "grpo.json")
    history = client.get_metric_history(stages["grpo"].info.run_id, "reward")
    assert [(m.step, m.value) for m in history] == [(row["step"], row["reward"]) for row in train_log]
    # the training runs started before the stages ended: they were written live, not afterwards
    grpo, evaluate = stages["grpo"].info, stages["evaluate"].info
    assert grpo.end_time - grpo.start_time > 1000 and grpo.end_time <= evaluate.start_time
    metrics = json.loads(paths(project)["metrics"].read_text())
    # the evaluate run and the parent name each number alike
    assert stages["evaluate"].data.metrics["heldout/grpo/accuracy"] == metrics["grpo"]["accuracy"]
    assert not [key for key in stages["evaluate"].data.metrics if key.startswith("grpo/")]
    # each model's accuracy side by side in one chart: one metric, a step per model
    by_model = client.get_metric_history(stages["evaluate"].info.run_id, "accuracy_by_model")
    assert [(m.step, m.value) for m in by_model] == [
        (i, metrics[name]["accuracy"]) for i, name in enumerate(MODELS)
    ]
    assert stages["evaluate"].data.tags["accuracy_by_model"] == "step 0: base, step 1: sft, step 2: grpo"
    # each stage run holds the params its stage reads (dvc.yaml's), to compare in MLflow
    assert (
        stages["grpo"].data.params["train.max_steps"] == "2"
        and "evaluate.max_problems" not in stages["grpo"].data.params
    )
    assert (
        stages["evaluate"].data.params["evaluate.max_problems"] == "4"
        and "lora.r" not in stages["evaluate"].data.params
    )
    assert stages["sft"].data.params["sft.max_steps"] == "2"

    # and the problems it learns from or is scored on, as it read them, their content hash as digest
    def digest(rows: list[dict]) -> str:
        pairs = [{"problem": row["problem"], "answer": row["answer"]} for row in rows]
        return short_hash(json.dumps(pairs, sort_keys=True))[:16]

    files = paths(project)
    for stage, name, rows, context in (
        ("sft", "sft/source", read_jsonl(files["prepared"] / "train.jsonl"), "training"),
        ("grpo", "selected/train", read_jsonl(files["selected"] / "train.jsonl"), "training"),
        ("evaluate", "prepared/heldout", read_jsonl(files["prepared"] / "heldout.jsonl")[:4], "evaluation"),
    ):
        [logged] = stages[stage].inputs.dataset_inputs
        assert (logged.dataset.name, logged.dataset.digest) == (name, digest(rows))
        assert [t.value for t in logged.tags if t.key == "mlflow.data.context"] == [context]
    # TRL's clip ratios, zero at every step here (one optimizer step per generation), are not charted
    assert all(row["clip_ratio/low_mean"] == 0 for row in train_log)
    assert not [key for key in stages["grpo"].data.metrics if key.startswith("clip_ratio/")]


def test_sample_completions_are_logged_as_a_table_every_n_steps(reproduced):
    project = reproduced[0]
    client = registry_client(project)
    [parent] = pipeline_runs(client)
    grpo = children(client, parent.info.run_id)["grpo"]
    table = json.loads(Path(client.download_artifacts(grpo.info.run_id, "completions.json")).read_text())
    columns = table["columns"]
    assert {"step", "prompt", "completion", "advantage", "reward/accuracy"} <= set(columns)
    steps = [row[columns.index("step")] for row in table["data"]]
    params = load_params(project / "params.yaml")
    assert params.tracking.completions_every == 1
    assert sorted(set(steps)) == [1, 2] and len(steps) == 2 * params.train.batch_size
    heldout_and_train = [r["problem"] for r in read_jsonl(paths(project)["prepared"] / "train.jsonl")]
    assert all(row[columns.index("prompt")] in heldout_and_train for row in table["data"])


def test_register_logs_from_the_parent_run_and_links_the_training_run(reproduced):
    project = reproduced[0]
    client = registry_client(project)
    record = json.loads(paths(project)["registry"].read_text())
    version = client.get_model_version("rlvr-math", str(record["version"]))
    [parent] = pipeline_runs(client)
    assert version.run_id == parent.info.run_id
    assert version.tags["grpo_run_id"] == children(client, parent.info.run_id)["grpo"].info.run_id
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"predictions.json", "side_by_side.json", "plots", "heldout"} <= artifacts
    side = json.loads(Path(client.download_artifacts(parent.info.run_id, "side_by_side.json")).read_text())
    assert {"problem", "answer", "base_completion", "sft_correct", "grpo_correct", "sft_vs_grpo"} <= set(
        side["columns"]
    )
    assert len(side["data"]) == len(read_jsonl(paths(project)["prepared"] / "heldout.jsonl")[:4])
    # descriptions say what the version is
    assert re.match(
        r"GRPO LoRA adapter \(r=4\) on tiny-model: 2 GRPO steps on \d+ training problems of 60 generated "
        r"problems .*, after an SFT warm-up of 2 steps on \d+ examples \(data md5 ",
        version.description,
    ), version.description
    trained = len(read_jsonl(paths(project)["selected"] / "train.jsonl"))
    assert f"on {trained} training problems of 60 generated problems" in version.description
    assert "Held-out accuracy" in version.description
    assert "95% interval" in version.description
    assert "`champion` is the version in use" in client.get_registered_model("rlvr-math").description


@pytest.mark.slow  # under a minute alone, but the default suite's 10 minutes are spent (make test-slow)
def test_the_registered_model_loads_from_another_directory_with_only_the_tracking_uri(reproduced, tmp_path):
    """A fresh process, elsewhere, whose environment names only the tracking URI (and a cache): the
    version brings its code (rlvr, logged as code, no pickle) and its base model."""

    project = reproduced[0]
    question = "What is 12 + 30?"
    script = (
        "import json, mlflow, sys\n"
        "model = mlflow.pyfunc.load_model('models:/rlvr-math@champion')\n"
        f"answers = model.predict([{question!r}])\n"
        "import rlvr\n"
        "print(json.dumps({'answers': answers, 'rlvr': rlvr.__file__}))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": project_env(project)["MLFLOW_TRACKING_URI"],
        "RLVR_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "TQDM_DISABLE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "/artifacts/code/rlvr/" in out["rlvr"]  # the version's own copy of rlvr
    expected = greedy_answers(project, [question])
    assert out["answers"] == expected
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # no stray mlflow.db
    assert "cloudpickle" not in result.stderr.lower()


def test_the_registered_model_carries_installable_requirements_and_no_pickle(reproduced, tmp_path):
    project = reproduced[0]
    client = registry_client(project)
    source = client.get_model_version("rlvr-math", "1").source
    import mlflow

    mlflow.set_tracking_uri(project_env(project)["MLFLOW_TRACKING_URI"])
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp_path)))
    requirements = (local / "requirements.txt").read_text().split()
    names = {line.split("==")[0] for line in requirements if "==" in line}
    assert {"torch", "transformers", "peft", "mlflow", "gguf", "math-verify"} <= names
    assert not any("+" in line for line in requirements)  # no local build tags such as torch==2.13.0+cpu
    assert not list(local.rglob("*.pkl")) and (local / "code" / "rlvr" / "serving" / "answerer.py").is_file()
    pyfunc = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert set(pyfunc["artifacts"]) == {"adapter", "base"}  # a local base model travels with the version


def test_a_stage_rerun_alone_logs_into_its_pipeline_run_and_leaves_none_open(project_copy):
    """`dvc repro -s -f report` after a full run: its child run (named `evaluate`, the evaluation of every
    model) joins the pipeline run whose outputs it rereads (same inputs), and no parent run is left
    RUNNING."""
    import socket

    from rlvr.hashing import short_hash
    from rlvr.mlops.runs import CHECKOUT
    from tests.conftest import dvc

    client = registry_client(project_copy)
    [parent] = pipeline_runs(client)  # the copy's store holds the original's run: make it this checkout's
    client.set_tag(
        parent.info.run_id, CHECKOUT, short_hash(f"{socket.gethostname()}:{project_copy.resolve()}")
    )
    dvc(project_copy, "repro", "-s", "-f", "report")
    [parent] = pipeline_runs(client)
    assert parent.info.status == "FINISHED"
    evaluations = [
        run
        for run in client.search_runs(
            [parent.info.experiment_id], filter_string="tags.`rlvr.stage` = 'evaluate'"
        )
    ]
    assert len(evaluations) == 2 and {run.data.tags["mlflow.parentRunId"] for run in evaluations} == {
        parent.info.run_id
    }
