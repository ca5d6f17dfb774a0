"""The MLflow tracking store: its URI, shown without credentials, and checked before anything is logged.

The tracking URI is MLFLOW_TRACKING_URI, else a SQLite file in the working directory: offline, no server.
An unreachable server, one that is not MLflow, a scheme MLflow cannot use, or a SQLite URI whose directory
does not exist fails within seconds, in one line naming the URI (without its credentials)."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rlvr.errors import RlvrError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

CONNECT_TIMEOUT_S = 5.0

# MLflow's own HTTP client retries for minutes by default; these bound a hanging server to seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}


class TrackingError(RlvrError):
    """The MLflow tracking store cannot be used; the message names the URI and what to change."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def public_uri(uri: str) -> str:
    """The URI without credentials (user, password, query), fit for a file that users commit.

    >>> public_uri("https://alice:s3cret@mlflow.example.com:5000/?token=x")
    'https://mlflow.example.com:5000/'
    >>> public_uri("postgresql://mlflow:pw@db/mlflow"), public_uri("sqlite:///mlflow.db")
    ('postgresql://db/mlflow', 'sqlite:///mlflow.db')
    """
    parts = urlsplit(uri)
    if not parts.netloc:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite tracking URI (None for any other URI or an in-memory database).

    >>> sqlite_path("sqlite:///mlflow.db"), sqlite_path("sqlite:////srv/m.db"), sqlite_path("http://h")
    (PosixPath('mlflow.db'), PosixPath('/srv/m.db'), None)
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?")[0]
    return Path(path) if path and path != ":memory:" else None


def check_store(uri: str, must_exist: bool = False) -> None:
    """Refuse a tracking URI that cannot work, within seconds: a SQLite file in a directory that does not
    exist (or, with `must_exist`, a SQLite file that does not exist: a command that only reads would
    leave an empty store behind), or a server that does not answer."""
    shown = public_uri(uri)
    database = sqlite_path(uri)
    if database is not None:
        if not database.parent.is_dir():
            raise TrackingError(
                f"MLFLOW_TRACKING_URI {shown}: directory {database.parent} does not exist; create it, or "
                "point the URI at an existing directory (an absolute path: sqlite:////path/to/mlflow.db)"
            )
        if must_exist and not database.is_file():
            raise TrackingError(
                f"no MLflow store at {database.resolve()} ({shown}); run this from the project root, or set "
                "MLFLOW_TRACKING_URI to the store the pipeline wrote (sqlite:////path/to/project/mlflow.db)"
            )
        return
    parts = urlsplit(uri)
    if not parts.hostname:
        return
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        if parts.scheme in ("http", "https"):
            netloc = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
            health = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
            try:
                urllib.request.urlopen(health, timeout=CONNECT_TIMEOUT_S).close()
            except urllib.error.HTTPError:
                pass  # the server answered; whether it likes the request is MLflow's business
        else:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0])
            if port:
                socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"cannot reach the MLflow tracking store at {shown} ({reason}) within {CONNECT_TIMEOUT_S:.0f} s; "
            "start the server or fix MLFLOW_TRACKING_URI (unset, it is the local sqlite:///mlflow.db)"
        ) from None


def client(must_exist: bool = False):
    """An MlflowClient on the checked tracking URI, which also becomes the fluent API's URI."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri()
    check_store(uri, must_exist)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)
