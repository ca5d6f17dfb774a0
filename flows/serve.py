"""`python -m flows.serve`: a local Prefect server on 127.0.0.1 and the project's deployments.

The pipeline deployment runs on the cron schedule in params.yaml (`schedule`); promote and rollback run
on demand from the UI. Runs started from the UI execute in this process's working directory: start it
from the project root.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer
from prefect.schedules import Cron

from flows import promotion
from flows.pipeline import pipeline
from rlvr.config.schema import load_params
from rlvr.mlops.store import public_uri, tracking_uri


def deployments(root: Path) -> list:
    schedule = load_params(root / "params.yaml").schedule
    parameters = {"root": str(root)}
    return [
        pipeline.to_deployment(
            name="scheduled",
            schedules=[Cron(schedule.cron, timezone=schedule.timezone)],
            parameters=parameters,
            description="fetch, prepare, train, evaluate, register (DVC skips what is up to date)",
        ),
        promotion.promote.to_deployment(
            name="on-demand",
            parameters=parameters,
            description=(
                "champion := challenger when, paired on the same held-out problems, the lower bound of the "
                "accuracy delta's 95% interval exceeds registry.promote_margin; the decision is tagged on "
                "both versions. `force` promotes regardless (recorded); `evaluate_champion` scores the "
                "champion on the challenger's problems when their held-out sets differ."
            ),
        ),
        promotion.rollback.to_deployment(
            name="on-demand",
            parameters=parameters,
            description=(
                "champion := the version it replaced; the version left is tagged `rolled_back` (with "
                "`reason`) and is not promoted again unless forced."
            ),
        ),
    ]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"the Prefect server exited with code {process.returncode}; see its output above"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the Prefect server did not answer at {url} within {timeout_s:.0f} s")


def main(
    host: str = typer.Option("127.0.0.1", help="Address the server binds to."),
    port: int = typer.Option(4200, help="Port of the server and its UI."),
    root: Path = typer.Option(Path("."), help="The project root."),
) -> None:
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    root = root.resolve()
    api = f"http://{host}:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},  # no calls home
    )
    try:
        wait_healthy(api, server)
        print(
            f"Prefect UI: http://{host}:{port}  (MLflow UI: `mlflow ui --backend-store-uri "
            f"{public_uri(tracking_uri())}`)"
        )
        with temporary_settings({PREFECT_API_URL: api}):
            serve(*deployments(root))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    typer.run(main)
