"""`make team`: docs/deploy.md's team setup, run for real on one machine, each role in a folder of its own.

    python -m rehearsal.team [--work team-run]

- services: PostgreSQL, an S3-compatible server (moto) with a bucket for MLflow's artifacts and one for the
  DVC remote, `mlflow server` on both, `prefect server start`; every one a process on 127.0.0.1, on a port
  free at start.
- gpu-host: a clone of the team's repository (this project's files, as a clone has them, on the tiny
  profile, with the DVC remote configured), a process work pool, `prefect worker start`, and the pipeline
  deployed to that pool with `dvc push` at its end; after the run it commits dvc.lock and pushes it.
- laptop: another clone; it starts the deployment through the Prefect API (what the UI's "Run" does), then
  `git pull`, `dvc pull`, `dvc repro` (which must run no stage whose outputs DVC caches), `rlvr report`,
  `rlvr promote`, `rlvr ask` and `mlflow models serve` of the champion, all against the server's registry.

Every command is printed before it runs. At the end it checks that no credential (the database password,
the S3 keys) reached a record (committed files, MLflow tags and params, Prefect's logs), stops every
process it started, even on failure or SIGTERM, and prints one line per role saying what it saw.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import typer

from rehearsal.__main__ import git, scratch_project
from rehearsal.services import (
    BIN,
    HOST,
    S3,
    Postgres,
    Process,
    Processes,
    free_port,
    healthy,
    http_ok,
    start_mlflow,
    start_postgres,
    start_prefect,
    start_s3,
    wait_until,
)

POOL = "gpu"
DEPLOYMENT = "rlvr-pipeline/team"
MLFLOW_BUCKET, DVC_BUCKET = "rlvr-mlflow", "rlvr-dvc"
QUESTION = "What is 48 + 27?"
# DVC stages whose outputs DVC does not cache: every machine builds them itself (dvc.yaml, `cache: false`)
UNCACHED_STAGES = {"model"}


class RehearsalFailed(SystemExit):
    """A step failed; the message names the command and its last lines."""


@dataclass
class Services:
    postgres: Postgres
    s3: S3
    mlflow: Process
    prefect: Process

    def secrets(self) -> list[str]:
        return [self.postgres.password, self.s3.access_key, self.s3.secret_key]


def keep_secrets(path: Path, services: Services) -> None:
    """The rehearsal's credentials, readable by its user only (as a team keeps them in a secret store),
    for whoever checks that none reached a record (tests/test_team.py)."""
    path.touch(mode=0o600)
    keys = ("MLFLOW_BACKEND_STORE_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    values = (services.postgres.uri, services.s3.access_key, services.s3.secret_key)
    path.write_text("".join(f"{key}={value}\n" for key, value in zip(keys, values, strict=True)))


def base_env() -> dict[str, str]:
    """Offline, no telemetry, this venv's commands first."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "TQDM_DISABLE": "1",
    }


def client_env(services: Services, home: Path) -> dict[str, str]:
    """A team member's machine: the two servers' addresses and the DVC remote's S3 keys (MLflow proxies
    artifacts, so its clients need no S3 credentials)."""
    return {
        **base_env(),
        **services.s3.env(),
        "MLFLOW_TRACKING_URI": services.mlflow.url,
        "PREFECT_API_URL": services.prefect.url,
        "PREFECT_HOME": str(home / ".prefect"),
        "RLVR_CACHE": str(home.parent / f"{home.name}-cache"),
    }


def step(role: str, text: str) -> None:
    print(f"\n[{role}] {text}", flush=True)


def sh(role: str, command: list[str], cwd: Path, env: dict, show: int | None = 20) -> str:
    """Run a command as `role` and print it; its output, printed as it comes (`show=None`) or its last
    `show` lines at the end. A failure stops the rehearsal with the command's last lines."""
    shown = " ".join(shlex.quote(part) for part in command)
    print(f"[{role}] $ {shown}", flush=True)
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        if show is None:
            print(f"    {lines[-1]}", flush=True)
    for line in lines[-show:] if show else []:
        print(f"    {line}", flush=True)
    if process.wait() != 0:
        tail = "\n".join(f"    {line}" for line in lines[-30:])
        raise RehearsalFailed(f"[{role}] `{shown}` failed (exit {process.returncode}):\n{tail}")
    return "\n".join(lines).strip()


def start_services(processes: Processes, work: Path) -> Services:
    role, env = "services", base_env()
    step(role, "PostgreSQL (initdb, the server on 127.0.0.1, CREATE USER mlflow, CREATE DATABASE mlflow)")
    postgres = start_postgres(processes, work / "postgres", env)
    print(f"    PostgreSQL {postgres.version} on {HOST}:{postgres.port}", flush=True)
    step(role, f"S3: moto_server, buckets {MLFLOW_BUCKET} (MLflow artifacts) and {DVC_BUCKET} (DVC remote)")
    s3 = start_s3(processes, work / "s3", env, (MLFLOW_BUCKET, DVC_BUCKET))
    print(f"    S3 endpoint {s3.endpoint}", flush=True)
    step(role, "mlflow server --backend-store-uri postgresql://mlflow:***@... and prefect server start")
    prefect = start_prefect(processes, work / "prefect", env)
    mlflow = start_mlflow(
        processes, work / "mlflow", env, postgres.uri, f"s3://{MLFLOW_BUCKET}/artifacts", s3
    )
    healthy(mlflow)
    healthy(prefect)
    print(f"    MLflow {mlflow.url}, Prefect API {prefect.url}", flush=True)
    return Services(postgres, s3, mlflow, prefect)


def team_repository(work: Path, s3: S3) -> Path:
    """The team's git repository (bare, as on a git server): this project on the tiny profile with the
    tests' tiny model at ./tiny-model, and the DVC remote in the bucket (its address committed, its keys
    not)."""
    from rlvr.config.profiles import use_profile
    from tests.tiny import build_tiny_model

    seed = scratch_project(work / "seed")
    build_tiny_model(seed / "tiny-model")
    use_profile(seed, "tiny")
    env = base_env()
    dvc = [sys.executable, "-m", "dvc"]
    sh("services", [*dvc, "remote", "add", "-d", "shared", f"s3://{DVC_BUCKET}/cache"], seed, env)
    sh("services", [*dvc, "remote", "modify", "shared", "endpointurl", s3.endpoint], seed, env)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=team", "-c", "user.email=team@localhost", "commit", "-q", "-m", "team setup")
    origin = work / "origin.git"
    git(work, "clone", "-q", "--bare", str(seed), str(origin))
    shutil.rmtree(seed)
    return origin


def gpu_host(
    processes: Processes, work: Path, origin: Path, services: Services
) -> tuple[Path, dict, Process]:
    role, gpu = "gpu-host", work / "gpu-host"
    git(work, "clone", "-q", str(origin), str(gpu))
    env = client_env(services, gpu)
    step(role, f"a process work pool, a worker on it, the pipeline deployed to it (clone: {gpu})")
    prefect = str(BIN / "prefect")
    sh(role, [prefect, "work-pool", "create", POOL, "--type", "process"], gpu, env)
    worker = processes.start(
        "worker", [prefect, "worker", "start", "--pool", POOL, "--name", role], work / "logs", env, cwd=gpu
    )
    deploy = [prefect, "--no-prompt", "deploy", "flows/pipeline.py:pipeline", "--name", "team"]
    deploy += ["--pool", POOL, "--param", f"root={gpu}", "--param", "push=true"]
    sh(role, deploy, gpu, env, show=6)
    wait_until(lambda: "started" in worker.tail(50).lower(), worker, "worker started", timeout_s=120)
    print(f"    worker {role!r} polls pool {POOL!r} (log: {worker.log})", flush=True)
    return gpu, env, worker


def run_on_worker(laptop: Path, env: dict) -> str:
    """The laptop starts the deployment through the Prefect API and watches it; the flow run's id."""
    command = [str(BIN / "prefect"), "deployment", "run", DEPLOYMENT, "--watch", "--watch-timeout", "1800"]
    output = sh("laptop", command, laptop, env, show=None)
    return re.search(r"UUID: ([0-9a-f-]{36})", output).group(1)


def flow_run_report(api: str, flow_run_id: str) -> tuple[str, str, dict[str, str], list[str]]:
    """The flow run's final state, its work pool, each task's state, and every log line."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), limit=200
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        logs += _more_logs(client, run.id, len(logs))
    states = {task.name: task.state.name for task in sorted(tasks, key=lambda t: t.start_time or t.created)}
    return run.state.name, run.work_pool_name, states, [log.message for log in logs]


def _more_logs(client, flow_run_id, offset: int) -> list:
    """Prefect pages logs (200 a call): the rest of them."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found, batch = [], True
    while batch and offset % 200 == 0 and offset:
        batch = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), offset=offset
        )
        found += batch
        offset += len(batch)
    return found


def serve_champion(processes: Processes, laptop: Path, env: dict, work: Path) -> str:
    role, port = "laptop", free_port()
    command = [str(BIN / "mlflow"), "models", "serve", "-m", "models:/rlvr-math@champion"]
    command += ["--env-manager", "local", "--host", HOST, "--port", str(port)]
    print(f"[{role}] $ {' '.join(command)}", flush=True)
    server = processes.start("models-serve", command, work / "logs", env, cwd=laptop)
    url = f"http://{HOST}:{port}"
    wait_until(lambda: http_ok(f"{url}/ping"), server, "answer on /ping", timeout_s=300)
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps({"inputs": [QUESTION]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        body = answer.read().decode()
    print(f'[{role}] $ curl {url}/invocations -d \'{{"inputs": ["{QUESTION}"]}}\'\n    {body}', flush=True)
    server.stop()
    return body


def leaked(services: Services, laptop: Path, logs: list[str]) -> list[str]:
    """Where a credential turned up: committed files, MLflow's tags and params, Prefect's log lines."""
    from mlflow import MlflowClient

    secrets = services.secrets()
    found = []
    committed = subprocess.run(["git", "ls-files"], cwd=laptop, capture_output=True, text=True, check=True)
    for name in ["dvc.lock", "metrics/registry.json", *committed.stdout.split()]:
        path = laptop / name
        if path.is_file() and any(s in path.read_text(errors="replace") for s in secrets):
            found.append(name)
    client = MlflowClient(services.mlflow.url)
    records = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            records.append((f"run {run.info.run_id}", {**run.data.tags, **run.data.params}))
    for model in client.search_registered_models():
        records.append((f"model {model.name}", model.tags))
        for mv in client.search_model_versions(f"name = '{model.name}'"):
            records.append((f"{model.name} v{mv.version}", {**mv.tags, "source": mv.source or ""}))
    found += [where for where, tags in records if any(s in str(tags) for s in secrets)]
    found += [f"Prefect log: {line[:60]}" for line in logs if any(s in line for s in secrets)]
    return found + [f"checked {len(records)} MLflow records, {len(logs)} Prefect log lines"]


def bucket_objects(s3: S3, bucket: str) -> int:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


def postgres_counts(services: Services) -> tuple[int, int]:
    """MLflow's runs and model versions, read from PostgreSQL itself."""
    import psycopg

    with psycopg.connect(services.postgres.uri) as connection:
        runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        versions = connection.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    return runs, versions


def rehearse(processes: Processes, work: Path) -> dict[str, str]:
    services = start_services(processes, work)
    keep_secrets(work / "credentials.env", services)
    step("services", "the team's repository: this project, tiny profile, DVC remote s3://rlvr-dvc/cache")
    origin = team_repository(work, services.s3)
    gpu, gpu_env, worker = gpu_host(processes, work, origin, services)

    laptop = work / "laptop"
    git(work, "clone", "-q", str(origin), str(laptop))
    env = client_env(services, laptop)
    step("laptop", f"run the deployment on the worker, through the Prefect API (clone: {laptop})")
    flow_run_id = run_on_worker(laptop, env)
    state, pool, tasks, logs = flow_run_report(services.prefect.url, flow_run_id)
    submitted = re.search(rf"Worker '([^']+)' submitting flow run '{flow_run_id}'", worker.log.read_text())
    pushed = next((line for line in reversed(logs) if "pushed" in line or "up to date" in line), "?")

    step("gpu-host", "commit what the run recorded (dvc.lock, metrics, logs) and push it")
    sh("gpu-host", ["git", "add", "-A"], gpu, gpu_env)
    commit = ["git", "-c", "user.name=gpu-host", "-c", "user.email=gpu@localhost", "commit", "-q"]
    sh("gpu-host", [*commit, "-m", f"pipeline run {flow_run_id}"], gpu, gpu_env)
    sh("gpu-host", ["git", "push", "-q", "origin", "main"], gpu, gpu_env)

    step("laptop", "git pull, dvc pull, dvc repro: the run's outputs come from the remote")
    dvc, rlvr = [sys.executable, "-m", "dvc"], str(BIN / "rlvr")
    sh("laptop", ["git", "pull", "-q"], laptop, env)
    pulled = sh("laptop", [*dvc, "pull"], laptop, env, show=5).splitlines()[-1]
    reran = set(re.findall(r"Running stage '([^']+)'", sh("laptop", [*dvc, "repro"], laptop, env, show=12)))
    if reran - UNCACHED_STAGES:
        raise RehearsalFailed(f"[laptop] dvc repro after dvc pull ran {sorted(reran)}: the remote lacks them")
    step("laptop", "the server's registry: report, promote, ask, serve the champion")
    sh("laptop", [rlvr, "report"], laptop, env, show=12)
    promoted = sh("laptop", [rlvr, "promote"], laptop, env).splitlines()[-1]
    answer = sh("laptop", [rlvr, "ask", QUESTION], laptop, env).splitlines()[-1]
    served = serve_champion(processes, laptop, env, work)

    step("services", "what the services hold; credentials in the records")
    runs, versions = postgres_counts(services)
    leaks = leaked(services, laptop, logs)
    if len(leaks) > 1:
        raise RehearsalFailed(f"credentials found in records: {'; '.join(leaks[:-1])}")
    registry = json.loads((laptop / "metrics" / "registry.json").read_text())
    ran = [name for name, task_state in tasks.items() if task_state == "Completed"]
    return {
        "services": (
            f"PostgreSQL {services.postgres.version} holds MLflow {version('mlflow')}'s {runs} runs and "
            f"{versions} model version(s); S3 (moto {version('moto')}) holds "
            f"{bucket_objects(services.s3, MLFLOW_BUCKET)} MLflow artifact objects and "
            f"{bucket_objects(services.s3, DVC_BUCKET)} DVC objects; Prefect {version('prefect')} server"
        ),
        "gpu-host": (
            f"worker {submitted and submitted.group(1)!r} on pool {pool!r} ran flow run {flow_run_id} to "
            f"{state}: {', '.join(ran)}; registered "
            f"{registry.get('uri', registry.get('reason'))}; dvc push: {pushed.strip()}"
        ),
        "laptop": (
            f"dvc pull: {pulled.strip()}; dvc repro ran {', '.join(sorted(reran)) or 'nothing'} "
            f"(cache: false) and no cached stage; promote: {promoted.strip()[:100]}; ask: {answer[:40]!r}; "
            f"models serve: {served[:60]}"
        ),
        "records": f"no credential in committed files, MLflow tags/params or Prefect logs ({leaks[-1]})",
    }


def main(work: Path = typer.Option(Path("team-run"), help="Scratch folder (replaced).")) -> None:
    started = time.perf_counter()
    work = work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    processes = Processes()

    def stopped(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGHUP, stopped)
    seen: dict[str, str] = {}
    try:
        seen = rehearse(processes, work)
    finally:
        count = len(processes.started)
        left = processes.stop_all()
        print(f"\nstopped the {count} processes it started; still running: {', '.join(left) or 'none'}")
    for role, line in seen.items():
        print(f"{role}: {line}")
    print(f"team rehearsal: {(time.perf_counter() - started) / 60:.1f} min (scratch: {work})")
    if left:
        raise SystemExit(f"still running after stop: {', '.join(left)}")


if __name__ == "__main__":
    typer.run(main)
