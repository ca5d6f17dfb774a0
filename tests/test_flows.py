"""The Prefect flows, run for real against Prefect's test server, on temporary copies of the project."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows import promotion as registry_flows
from flows.pipeline import pipeline
from flows.serve import deployments
from rlvr.config.schema import load_params
from rlvr.evaluation.predictions import models_and_pairs, side_by_side
from rlvr.evaluation.report import table_artifact
from rlvr.files import HELDOUT_SET, read_jsonl
from rlvr.hashing import hash_path
from rlvr.mlops.dvcfile import paths, up_to_date
from rlvr.mlops.registry import RegistryError, register
from rlvr.mlops.runs import experiment_id
from tests.conftest import copy_project, project_env, registry_client
from tests.test_pipeline import MODELS, ORDER, STAGES


@pytest.fixture
def in_project(monkeypatch):
    """Point this process's environment (that the flows' stage commands inherit) at a project."""

    def enter(project: Path) -> Path:
        for key, value in project_env(project).items():
            monkeypatch.setenv(key, value)
        return project

    return enter


def task_runs(flow_run_id) -> dict[str, list]:
    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        by_name: dict[str, list] = {}
        for run in runs:
            by_name.setdefault(run.name, []).append(run)
        return by_name

    return asyncio.run(read())


def artifact(key: str, state=None):
    """The newest artifact with this key (of the flow run that ended in `state`, when given)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    flow_run = None if state is None else ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])

    async def read():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]), flow_run_id=flow_run)
            )
        return max(found, key=lambda a: a.created)

    return asyncio.run(read())


def test_pipeline_flow_runs_every_stage_then_reports_all_skipped(reproduced, tmp_path, in_project):
    reproduced_project, first = reproduced  # the session's project, made by the pipeline flow
    assert first.is_completed()
    assert first.result() == {stage: "ran" for stage in STAGES}
    report = artifact("rlvr-report", first).data
    assert "| grpo |" in report and "[rlvr-math v1]" in report and "/#/models/rlvr-math/versions/1" in report
    table = json.loads(artifact("rlvr-metrics", first).data)
    assert [row["model"] for row in table] == MODELS
    metrics = json.loads(paths(reproduced_project)["metrics"].read_text())
    assert table[2]["accuracy"] == metrics["grpo"]["accuracy"]

    assert f"Stages run: {', '.join(ORDER)}" in report
    assert "No profile or overrides: the run used params.yaml as committed." in report
    assert "## Answers that changed" in report
    side = json.loads(artifact("rlvr-side-by-side", first).data)
    assert len(side) == 4 and {"problem", "base_completion", "grpo_correct", "sft_vs_grpo"} <= set(side[0])
    # every text cell escaped (the UI renders cells as Markdown, where the markers read as tags)
    files = paths(reproduced_project)
    rows = side_by_side(read_jsonl(files["predictions"]), *models_and_pairs(metrics))
    assert side == table_artifact(rows)
    # the MLflow run knows the flow run, and the report links the MLflow run
    record = json.loads(paths(reproduced_project)["registry"].read_text())
    run = registry_client(reproduced_project).get_run(record["run_id"])
    flow_run_id = str(first.state_details.flow_run_id)
    assert run.data.tags["prefect.flow_run_id"] == flow_run_id
    assert run.data.tags["prefect.flow_run_url"].endswith(f"/runs/flow-run/{flow_run_id}")
    assert f"/#/experiments/{record['experiment_id']}/runs/{record['run_id']})" in report

    # a second run, with an override that no stage reads, kept in params.yaml: nothing reruns
    project = in_project(copy_project(reproduced_project, tmp_path / "project"))
    committed = (project / "params.yaml").read_text()
    second = pipeline(
        root=str(project), overrides=["schedule.cron='0 4 * * *'"], persist_overrides=True, return_state=True
    )
    assert second.result() == {stage: "skipped" for stage in STAGES}
    assert (project / "params.yaml").read_text() == committed.replace('"0 3 * * *"', '"0 4 * * *"')
    deadline = time.monotonic() + 30  # Prefect records task runs on its server asynchronously
    while set(runs := task_runs(second.state_details.flow_run_id)) != STAGES and time.monotonic() < deadline:
        time.sleep(0.5)
    assert {name: [r.state.name for r in rs] for name, rs in runs.items()} == {s: ["Skipped"] for s in STAGES}
    deadline = time.monotonic() + 30  # Prefect ships logs to its server in batches, after the run
    while not any("didn't change, skipping" in line for line in _flow_logs(second)):
        assert time.monotonic() < deadline, "no task logged why its stage was skipped"
        time.sleep(0.5)
    report = artifact("rlvr-report", second).data
    assert f"No retraining: every stage was up to date; showing run [{record['run_name']}](" in report
    assert "kept in params.yaml: later runs, the scheduled ones included, use them too." in report


def reworded_conclusions(project: Path) -> None:
    conclusions = project / "rlvr" / "evaluation" / "conclusions.py"
    conclusions.write_text(conclusions.read_text() + "# a rule reworded\n")


def test_a_changed_conclusion_rule_leaves_only_the_report_and_register_out_of_date(project_copy, in_project):
    """A comment added to rlvr/evaluation/conclusions.py: DVC's status (what the flow asks before each
    stage) finds the report and register stages out of date, and no evaluation: no model is decoded
    again."""
    project = in_project(project_copy)
    reworded_conclusions(project)
    assert [stage for stage in ORDER if not up_to_date(project, stage)] == ["report", "register"]


@pytest.mark.slow  # the flow over every stage, after the status test above (make test-slow)
def test_a_changed_conclusion_rule_reruns_only_the_report_and_register(project_copy, in_project, monkeypatch):
    """The flow asks DVC before each stage, runs the report and register stages and skips the others, and
    the report's numbers come out the same."""
    project = in_project(project_copy)
    # an MLflow store of its own: the copied one records its artifacts at the original project's path
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'copy.db'}")
    files = paths(project)
    before = {name: hash_path(files[name]) for name in ("evaluations", "metrics", "predictions")}
    reworded_conclusions(project)
    state = pipeline(root=str(project), return_state=True)
    ran = ("report", "register")
    assert state.result() == {stage: "ran" if stage in ran else "skipped" for stage in ORDER}
    assert {name: hash_path(files[name]) for name in before} == before
    assert all(up_to_date(project, stage) for stage in ORDER)


@pytest.mark.slow  # under a minute alone, but the default suite's 10 minutes are spent (make test-slow)
def test_overrides_apply_to_one_run_unless_persisted(prefect_server, project_copy, in_project):
    project = in_project(project_copy)
    committed = (project / "params.yaml").read_bytes()
    state = pipeline(root=str(project), overrides=["registry.promote_margin=0.01"], return_state=True)
    assert state.result() == {stage: "ran" if stage == "register" else "skipped" for stage in STAGES}
    assert (project / "params.yaml").read_bytes() == committed
    report = artifact("rlvr-report").data
    assert (
        "Overrides `registry.promote_margin=0.01` (registry.promote_margin: 0.0 -> 0.01), for this run only: "
        "params.yaml was restored afterwards." in report
    )
    record = json.loads(paths(project)["registry"].read_text())
    assert registry_client(project).get_run(record["run_id"]).data.params["registry.promote_margin"] == "0.01"


def _flow_logs(state) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def read():
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
        return [log.message for log in logs]

    return asyncio.run(read())


@pytest.mark.slow  # under a minute alone, but the default suite's 10 minutes are spent (make test-slow)
def test_fetch_is_retried_and_a_training_failure_fails_the_flow_with_its_error(
    prefect_server, project_copy, in_project
):
    """One run where fetch fails once, as a dropped connection would (retried), and training fails (not
    retried): the flow fails with the stage's own error, later stages do not run, earlier outputs stay."""
    project = in_project(project_copy)
    (project / "flaky.py").write_text(
        "import pathlib, sys\n"
        "marker = pathlib.Path('.fetch-failed-once')\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit('simulated network error')\n"
    )
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(
        dvc_yaml.read_text().replace(
            "cmd: python -m tasks.fetch", "cmd: python flaky.py && python -m tasks.fetch"
        )
    )
    files = paths(project)
    before = {name: hash_path(files[name]) for name in ("raw", "prepared", "base", "sft", "grpo", "metrics")}
    committed = (project / "params.yaml").read_bytes()
    # A valid name (params refuse unknown ones) that transformers refuses without an eval strategy
    plateau = "reduce_lr_on_plateau"
    state = pipeline(root=str(project), overrides=[f"train.lr_scheduler_type={plateau}"], return_state=True)
    assert state.is_failed()
    runs = task_runs(state.state_details.flow_run_id)
    assert runs["fetch"][0].state.is_completed() and runs["fetch"][0].run_count == 2
    assert runs["prepare"][0].state.name == "Skipped"  # fetch wrote the same snapshot again
    train = runs["train@grpo"][0]
    assert train.state.is_failed() and train.run_count == 1  # no retries on training
    assert f"lr_scheduler_type {plateau} requires an eval strategy" in train.state.message
    assert not [name for name in runs if name.startswith(("evaluate@", "report", "register"))]
    assert {name: hash_path(files[name]) for name in before if files[name].exists()} == {
        k: v for k, v in before.items() if k not in ("grpo",)
    }
    # the override was for this run only: params.yaml is as it was, byte for byte
    assert (project / "params.yaml").read_bytes() == committed
    assert load_params(project / "params.yaml").train.lr_scheduler_type == "constant"
    assert len(registry_client(project).search_model_versions("name='rlvr-math'")) == 1


def test_flow_fails_fast_while_dvc_holds_the_lock(prefect_server, project_copy, in_project):
    from dvc.lock import make_lock

    project = in_project(project_copy)
    lock = make_lock(str(project / ".dvc" / "tmp" / "lock"), tmp_dir=str(project / ".dvc" / "tmp"))
    lock.lock()
    try:
        started = time.monotonic()
        state = pipeline(root=str(project), return_state=True)
        elapsed = time.monotonic() - started
    finally:
        lock.unlock()
    assert state.is_failed() and "another DVC command" in state.message
    assert elapsed < 30
    assert task_runs(state.state_details.flow_run_id) == {}


def register_synthetic(project: Path, correct: list[bool], rows: list[dict] | None = None) -> int:
    """A second version of the project's adapter, registered through the register stage's function, with
    per-problem held-out results where the grpo model got `correct` (on the held-out problems, or `rows`)."""
    files = paths(project)
    heldout = rows or read_jsonl(files["prepared"] / HELDOUT_SET)[: len(correct)]
    predictions = [
        {"model": "grpo", "problem": r["problem"], "answer": r["answer"], "completion": "", "correct": ok}
        for r, ok in zip(heldout, correct, strict=True)
    ]
    params = load_params(project / "params.yaml")
    client = registry_client(project)
    run = client.create_run(experiment_id(client))
    adapter = shutil.copytree(files["grpo"], project / "models" / "grpo_synthetic", dirs_exist_ok=True)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "revision": "synthetic"}))
    return register(  # another adapter (its config differs): the registry keeps one version per adapter
        model_name="rlvr-math",
        run_id=run.info.run_id,
        predictions=predictions,
        adapter=adapter,
        base_files={"base": files["base"]},
        model_config={
            "base_model": "tiny-model",
            "revision": None,
            "dtype": params.model.dtype,
            "markers": params.format.model_dump(),
            "max_new_tokens": params.evaluate.max_new_tokens,
        },
        tags={},
        description="synthetic",
    ).version


def test_promote_and_rollback_flows_move_the_aliases(prefect_server, project_copy, in_project):
    project = in_project(project_copy)
    client = registry_client(project)
    v1 = client.get_model_version("rlvr-math", "1")
    stored = f"heldout/{v1.tags['heldout_set']}.json"
    v1_results = json.loads(Path(client.download_artifacts(v1.run_id, stored)).read_text())
    # v2 gets one more problem right than v1: better on paper, within noise on 4 problems
    flipped = next(i for i, row in enumerate(v1_results) if not row["correct"])
    assert (
        register_synthetic(project, [row["correct"] or i == flipped for i, row in enumerate(v1_results)]) == 2
    )
    message = registry_flows.promote(root=str(project), margin=0.0)
    assert message.startswith("rlvr-math: kept champion v1; challenger v2: +25.0 points [+0.0, ")
    decision = json.loads(client.get_model_version("rlvr-math", "2").tags["promotion/v2-vs-v1"])
    assert decision["decision"] == "kept" and decision["n"] == 4 and decision["ci_low"] == 0.0
    assert '| decision | "kept" |' in artifact("rlvr-promotion").data
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1

    assert "champion v1 -> v2 (forced, " in registry_flows.promote(root=str(project), margin=0.0, force=True)
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 2
    assert "v2 -> v1 (rolled back)" in registry_flows.rollback(root=str(project), reason="test")
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1
    assert json.loads(client.get_model_version("rlvr-math", "2").tags["rolled_back"])["reason"] == "test"
    assert "was rolled back" in registry_flows.promote(root=str(project), margin=0.0)
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1


def test_a_refused_rollback_ends_the_flow_failed_in_one_line(prefect_server, project_copy, in_project):
    """The CLI's one line, not two tracebacks: the flow run ends Failed with the registry's message, and
    its logs hold no traceback; called from Python, the flow raises the error itself."""
    project = in_project(project_copy)
    state = registry_flows.rollback(root=str(project), reason="test", return_state=True)
    assert state.is_failed() and state.message == "rlvr-math: no earlier champion to roll back to"
    deadline = time.monotonic() + 30  # Prefect ships logs to its server in batches, after the run
    logs = _flow_logs(state)
    while not any("Finished in state Failed" in line for line in logs):
        assert time.monotonic() < deadline, "the flow run logged no final state"
        time.sleep(0.5)
        logs = _flow_logs(state)
    assert not any("Traceback" in line or "Encountered exception" in line for line in logs), logs
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        registry_flows.rollback(root=str(project))


def test_promote_scores_the_champion_on_another_heldout_set(prefect_server, project_copy, in_project):
    """A challenger evaluated on other problems: the real champion (the tiny model) is loaded from the
    registry and scored on the challenger's problems, then the two are paired."""
    project = in_project(project_copy)
    client = registry_client(project)
    others = read_jsonl(paths(project)["prepared"] / "train.jsonl")[:12]
    assert register_synthetic(project, [True] * 12, rows=others) == 2
    with pytest.raises(RegistryError, match="--evaluate-champion"):
        registry_flows.promote(root=str(project), margin=0.0)
    message = registry_flows.promote(root=str(project), margin=0.0, evaluate_champion=True)
    decision = json.loads(client.get_model_version("rlvr-math", "2").tags["promotion/v2-vs-v1"])
    assert decision["paired_on"] == "v1 scored now on v2's held-out set" and decision["n"] == 12
    v1_run = client.get_model_version("rlvr-math", "1").run_id
    scored = json.loads(
        Path(client.download_artifacts(v1_run, f"heldout/{decision['heldout_set']}.json")).read_text()
    )
    assert [row["problem"] for row in scored] == [row["problem"] for row in others]
    assert decision["delta"] == pytest.approx(1 - sum(row["correct"] for row in scored) / 12)
    assert ("champion v1 -> v2" in message) == (decision["decision"] == "promoted")


def test_served_deployment_schedule_is_the_one_in_params(prefect_server, reproduced):
    project = reproduced[0]
    schedule = load_params(project / "params.yaml").schedule
    served = deployments(project)
    assert [d.name for d in served] == ["scheduled", "on-demand", "on-demand"]
    assert "lower bound of the accuracy delta's 95% interval exceeds registry.promote_margin" in (
        served[1].description
    )
    assert "tagged `rolled_back`" in served[2].description

    async def apply_and_read():
        await served[0].apply()
        async with get_client() as client:
            return await client.read_deployment_by_name("rlvr-pipeline/scheduled")

    deployment = asyncio.run(apply_and_read())
    assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [
        (schedule.cron, schedule.timezone)
    ]
    assert deployment.parameters == {"root": str(project)}


def test_serve_refuses_a_port_in_use_and_a_missing_project_in_one_line(tmp_path):
    """A second `make serve` attached to the first server (and paused its deployments when stopped); a
    wrong --root started a server, then ended in a traceback. Both are one line, before any server."""
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**project_env(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect")}
    serve = [sys.executable, "-m", "flows.serve"]
    with socket.socket() as other:  # another server's port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(  # the port as `make serve` passes it; PREFECT_SERVER_API_PORT alike
            serve, cwd=ROOT, env={**env, "PREFECT_SERVER_API_PORT": str(port)}, capture_output=True, text=True
        )
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (
            f"error: port {port} on 127.0.0.1 is in use (another Prefect server?); "
            "choose another with --port (make serve PORT=...)\n"
        )
    missing = tmp_path / "nonexistent"
    result = subprocess.run(
        [*serve, "--root", str(missing)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stdout == ""  # no "Prefect UI: ..." line: no server started
    assert result.stderr == f"error: {missing} holds no params.yaml; give the project root with --root\n"
