"""`python -m flows.serve`: a local Prefect server on 127.0.0.1 and the project's deployments.

The pipeline deployment runs on the cron schedule in params.yaml (`schedule`); promote and rollback run
on demand from the UI. Runs started from the UI execute in this process's working directory: start it
from the project root. The port is `--port` (`make serve PORT=...`, or PREFECT_SERVER_API_PORT); one that
another process holds is refused before anything starts: the deployments would otherwise be served to
whatever server answers there, and paused on it when this process stops.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The server's database, settings and logs live in the project (`.prefect/`, ignored by git), not in the
# user's shared ~/.prefect; set before Prefect is imported, which reads its settings then.
os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))

import typer  # noqa: E402
from prefect.schedules import Cron  # noqa: E402

from flows import promotion  # noqa: E402
from flows.pipeline import pipeline  # noqa: E402
from rlvr.config.schema import load_params  # noqa: E402
from rlvr.errors import RlvrError  # noqa: E402
from rlvr.mlops.store import public_uri, tracking_uri  # noqa: E402


def deployments(root: Path, scheduled: bool = True) -> list:
    schedule = load_params(root / "params.yaml").schedule
    parameters = {"root": str(root)}
    return [
        pipeline.to_deployment(
            name="scheduled",
            schedules=[Cron(schedule.cron, timezone=schedule.timezone)] if scheduled else [],
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


def port_taken(host: str, port: int) -> bool:
    """Whether another process listens on `host:port` (bound as uvicorn binds, so a port left in
    TIME_WAIT by a stopped server counts as free)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def main(
    host: str = typer.Option("127.0.0.1", help="Address the server binds to."),
    port: int = typer.Option(
        4200, envvar="PREFECT_SERVER_API_PORT", min=1, max=65535, help="Port of the server and its UI."
    ),
    root: Path = typer.Option(Path("."), help="The project root (holds params.yaml)."),
    schedule: bool = typer.Option(
        True, help="Run the pipeline on schedule.cron (--no-schedule: only when started by hand)."
    ),
) -> None:
    """Check the project and the port, then start the server and serve the deployments until Ctrl-C; a
    problem with either is one line, before anything starts."""
    root = root.resolve()
    if not (root / "params.yaml").is_file():
        raise SystemExit(f"error: {root} holds no params.yaml; give the project root with --root")
    try:
        load_params(root / "params.yaml")
    except RlvrError as exc:
        raise SystemExit(f"error: {exc}") from None
    if port_taken(host, port):
        raise SystemExit(
            f"error: port {port} on {host} is in use (another Prefect server?); "
            "choose another with --port (make serve PORT=...)"
        )
    serve_until_stopped(host, port, root, schedule)


def serve_until_stopped(host: str, port: int, root: Path, schedule: bool) -> None:
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = f"http://{host}:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        # the UI calls the API at the port it is served on; no calls home
        env={**os.environ, "PREFECT_UI_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
    )
    try:
        wait_healthy(api, server)
        print(
            f"Prefect UI: http://{host}:{port}  (MLflow UI: `mlflow ui --backend-store-uri "
            f"{public_uri(tracking_uri())}`)"
        )
        if schedule:
            cron = load_params(root / "params.yaml").schedule
            print(
                f"The pipeline runs on schedule.cron ({cron.cron!r}, {cron.timezone}); the UI lists its next "
                "runs. `--no-schedule` serves it to run by hand only. Ctrl-C stops the server."
            )
        with temporary_settings({PREFECT_API_URL: api}):
            serve(*deployments(root, schedule))
    finally:
        stop(server)


def stop(server: subprocess.Popen, grace_s: float = 10) -> None:
    """The server stopped: asked first, killed after `grace_s` (uvicorn can wait a long time for open
    connections to close)."""
    server.terminate()
    try:
        server.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    typer.run(main)
