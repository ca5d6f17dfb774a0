"""The Prefect flows, run for real against Prefect's test server, on temporary copies of the project."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.testing.utilities import prefect_test_harness

from flows import registry as registry_flows
from flows.pipeline import pipeline
from flows.serve import deployments
from rlvr.config import load_params
from rlvr.lineage import hash_path
from rlvr.pipeline import paths
from rlvr.registry import log_and_register
from rlvr.sources import read_jsonl
from tests.conftest import make_project, project_env, registry_client
from tests.test_pipeline import STAGES


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


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


def artifact(key: str):
    """The newest artifact with this key."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
        return max(found, key=lambda a: a.created)

    return asyncio.run(read())


def test_pipeline_flow_runs_every_stage_then_reports_all_skipped(
    prefect_server, tiny_model, tmp_path, in_project
):
    project = in_project(make_project(tmp_path / "project", tiny_model))
    first = pipeline(root=str(project), return_state=True)
    assert first.is_completed()
    assert first.result() == {stage: "ran" for stage in STAGES}
    report = artifact("rlvr-report").data
    assert "| grpo |" in report and "[rlvr-math v1]" in report and "/#/models/rlvr-math/versions/1" in report
    table = json.loads(artifact("rlvr-metrics").data)
    assert [row["model"] for row in table] == ["base", "sft", "grpo"]
    metrics = json.loads(paths(project)["metrics"].read_text())
    assert table[2]["accuracy"] == metrics["grpo"]["accuracy"]

    second = pipeline(root=str(project), return_state=True)
    assert second.result() == {stage: "skipped" for stage in STAGES}
    runs = task_runs(second.state_details.flow_run_id)
    assert {name: [r.state.name for r in rs] for name, rs in runs.items()} == {s: ["Skipped"] for s in STAGES}
    logs_have_dvc_output = any("didn't change, skipping" in line for line in _flow_logs(second))
    assert logs_have_dvc_output


def _flow_logs(state) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def read():
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
        return [log.message for log in logs]

    return asyncio.run(read())


def test_transient_fetch_failure_is_retried(prefect_server, project_copy, in_project):
    project = in_project(project_copy)
    # A fetch that fails once, as a dropped connection would, then works.
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
    state = pipeline(root=str(project), return_state=True)
    assert state.is_completed()
    assert state.result()["fetch"] == "ran" and state.result()["train"] == "skipped"
    fetch = task_runs(state.state_details.flow_run_id)["fetch"][0]
    assert fetch.run_count == 2


def test_training_failure_fails_the_flow_with_the_stage_error(prefect_server, project_copy, in_project):
    project = in_project(project_copy)
    files = paths(project)
    before = {name: hash_path(files[name]) for name in ("raw", "prepared", "base", "sft", "grpo", "metrics")}
    # A valid name (params refuse unknown ones) that transformers refuses without an eval strategy
    plateau = "reduce_lr_on_plateau"
    state = pipeline(root=str(project), overrides=[f"train.lr_scheduler_type={plateau}"], return_state=True)
    assert state.is_failed()
    runs = task_runs(state.state_details.flow_run_id)
    assert runs["train"][0].state.is_failed() and runs["train"][0].run_count == 1  # no retries on training
    assert f"lr_scheduler_type {plateau} requires an eval strategy" in runs["train"][0].state.message
    assert "evaluate" not in runs and "register" not in runs
    assert {name: hash_path(files[name]) for name in before if files[name].exists()} == {
        k: v for k, v in before.items() if k not in ("grpo",)
    }
    assert load_params(project / "params.yaml").train.lr_scheduler_type == plateau  # the record
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


def test_promote_and_rollback_flows_move_the_aliases(prefect_server, project_copy, in_project):
    project = in_project(project_copy)
    files = paths(project)
    better = {name: {**m, "accuracy": 1.0} for name, m in json.loads(files["metrics"].read_text()).items()}
    log_and_register(  # a second, better version, registered the way the register stage does it
        model_name="rlvr-math",
        params={},
        metrics=better,
        step_logs={},
        predictions=read_jsonl(files["predictions"]),
        plots=[],
        adapter=files["grpo"],
        model_config={},
        lineage={"params_hash": "0" * 16},
    )
    client = registry_client(project)
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1
    message = registry_flows.promote(root=str(project), margin=0.0)
    assert "champion v1 -> v2" in message
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 2
    assert "v2 -> v1 (rolled back)" in registry_flows.rollback(root=str(project))
    assert int(client.get_model_version_by_alias("rlvr-math", "champion").version) == 1


def test_served_deployment_schedule_is_the_one_in_params(prefect_server, reproduced):
    project = reproduced[0]
    schedule = load_params(project / "params.yaml").schedule
    served = deployments(project)
    assert [d.name for d in served] == ["scheduled", "on-demand", "on-demand"]

    async def apply_and_read():
        await served[0].apply()
        async with get_client() as client:
            return await client.read_deployment_by_name("rlvr-pipeline/scheduled")

    deployment = asyncio.run(apply_and_read())
    assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [
        (schedule.cron, schedule.timezone)
    ]
    assert deployment.parameters == {"root": str(project)}
