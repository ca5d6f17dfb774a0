"""The MLflow tracking store: its URI, shown without credentials, and checked before anything is logged.

The tracking URI is MLFLOW_TRACKING_URI, else a SQLite file in the working directory: offline, no server.
An unreachable server, one that is not MLflow, a scheme MLflow cannot use, a SQLite URI whose directory
does not exist, or a SQLite file that is no whole database fails within seconds, in one line naming the URI
(without its credentials) or the file.

A SQLite store keeps its artifacts beside the database file, in `mlruns/` (`artifact_root`): one artifact
root per store, whichever project logs into it. MLflow records artifact locations as absolute paths, so a
store moved with its project points at the old place; that is refused in one line saying how to relocate
(`check_artifacts`), never found out halfway through a download or an upload."""

from __future__ import annotations

import logging
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

from rlvr.errors import RlvrError
from rlvr.files import write_failure

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

CONNECT_TIMEOUT_S = 5.0

# MLflow's own HTTP client retries for minutes by default; these bound a hanging server to seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}
# The schemes MLflow's tracking and registry stores accept (`mlflow.tracking.registry`); a
# `postgresql+psycopg2` style driver suffix is allowed.
SCHEMES = (
    "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc", "file",
)  # fmt: skip


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
    >>> public_uri("databricks://scope:prefix"), public_uri("http://u:p@[::1]:5000")
    ('databricks://scope:prefix', 'http://[::1]:5000')
    """
    parts = urlsplit(uri)
    if not parts.netloc:
        return uri
    host = parts.netloc.rpartition("@")[2]  # credentials dropped; host and port kept as written
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def ui_url(uri: str | None = None) -> str:
    """Where people browse the tracking store: MLFLOW_UI_URL when set; the server itself for an HTTP
    tracking URI; else the address `mlflow ui` serves on by default.

    >>> ui_url("https://u:p@mlflow.example.com:8443/"), ui_url("sqlite:///mlflow.db")
    ('https://mlflow.example.com:8443', 'http://127.0.0.1:5000')
    """
    if os.environ.get("MLFLOW_UI_URL"):
        return os.environ["MLFLOW_UI_URL"].rstrip("/")
    uri = uri or tracking_uri()
    if urlsplit(uri).scheme in ("http", "https"):
        return public_uri(uri).rstrip("/")
    return "http://127.0.0.1:5000"


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
    scheme = urlsplit(uri).scheme.split("+")[0]
    if scheme not in SCHEMES:
        raise TrackingError(
            f"MLFLOW_TRACKING_URI {shown}: MLflow has no tracking store for the scheme "
            f"{scheme or '(none)'!r}; "
            f"use one of {', '.join(SCHEMES)} (unset, it is the local sqlite:///mlflow.db)"
        )
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
        _check_sqlite_file(database)
        return
    parts = urlsplit(uri)
    if not parts.hostname or scheme == "databricks":
        return
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        if scheme in ("http", "https"):
            _check_mlflow_server(parts, shown)
        else:
            port = _port(parts) or DEFAULT_PORTS.get(scheme)
            if port:
                socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"cannot reach the MLflow tracking store at {shown} ({reason}) within {CONNECT_TIMEOUT_S:.0f} s; "
            "start the server or fix MLFLOW_TRACKING_URI (unset, it is the local sqlite:///mlflow.db)"
        ) from None


def _check_sqlite_file(database: Path) -> None:
    """Refuse a store file that SQLite cannot read whole (cut short, overwritten, not a database): MLflow
    would fail on it with a database traceback at whichever query first touches the damage. SQLite's own
    `quick_check` reads every page, read-only; an empty file is a new store, which MLflow sets up."""
    import sqlite3

    if not database.is_file() or database.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict != "ok":
        raise TrackingError(
            f"{database.resolve()} is not a whole SQLite database ({verdict[:120]}), so MLflow cannot read "
            "the store: restore it from a backup, or move it aside to start an empty registry (its runs and "
            "versions are then lost; their files stay in mlruns/)"
        )


def artifact_root(uri: str) -> Path | None:
    """Where a SQLite store keeps its artifacts: `mlruns/` beside the database file, wherever the project
    that logs into it sits (None for other stores: their server or database decides)."""
    database = sqlite_path(uri)
    return database.resolve().parent / "mlruns" if database else None


def check_artifacts(location: str, uri: str | None = None) -> None:
    """Refuse a local artifact location (an experiment's, a run's) outside its SQLite store's artifact
    root: the project was moved or copied since MLflow recorded that absolute path, or the store is shared
    with a project that put its artifacts elsewhere. Reading would miss the files, writing would put them
    in another project's folder."""
    uri = uri or tracking_uri()
    root = artifact_root(uri)
    parts = urlsplit(location)
    if root is None or parts.scheme not in ("", "file"):
        return
    recorded = Path(url2pathname(parts.path))
    if recorded.resolve().is_relative_to(root):
        return
    old = next((p for p in recorded.parents if p.name == "mlruns"), recorded.parent)
    raise TrackingError(
        f"the MLflow store {sqlite_path(uri).resolve()} records its artifacts in {old}, not beside it in "
        f"{root}: MLflow keeps absolute paths, and the project was moved or copied (or the store is shared "
        f"with a project that keeps them elsewhere). Move the project back, or make the old place lead "
        f"here: mkdir -p {old.parent} && ln -s {root} {old}"
    )


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:  # a port that is no number
        return None


def _check_mlflow_server(parts, shown: str) -> None:
    """An MLflow server answers GET /health with "OK"; anything else that answers HTTP is another server
    (a wrong port, a proxy's error page). A server asking for credentials is taken at its word."""
    netloc = parts.netloc.rpartition("@")[2]
    health = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(health, timeout=CONNECT_TIMEOUT_S) as answer:
            body = answer.read(64).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return
        body = f"HTTP {exc.code}"
    if body != "OK":
        raise TrackingError(
            f"{shown} answers HTTP but is not an MLflow tracking server (GET /health gave {body[:40]!r}); "
            "check the host and port of MLFLOW_TRACKING_URI"
        )


def client(must_exist: bool = False):
    """An MlflowClient on the checked tracking URI, which also becomes the fluent API's URI. A store MLflow
    refuses (a file store it no longer serves, say) is a TrackingError with MLflow's reason, in one line."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri()
    check_store(uri, must_exist)
    mlflow.set_tracking_uri(uri)
    # MLflow logs a database error (a read-only or full store) with its traceback, then raises it again as
    # an MlflowException, which rlvr reports in one line (`rlvr.files.write_failure`): the log repeats it.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    try:
        mlflow_client = MlflowClient(uri)
        mlflow_client.search_experiments(max_results=1)
    except MlflowException as exc:
        reason = " ".join(str(exc.message).split())[:300]
        raise TrackingError(f"MLflow cannot use the tracking store {public_uri(uri)}: {reason}") from None
    return mlflow_client


@contextmanager
def storing(what: str) -> Iterator[None]:
    """Artifacts uploaded in the body (through the tracking server, to the artifact store behind it): a
    failure there (the server's bucket gone or refusing writes, a proxy's error page) is one line naming
    `what` and the store's answer, not a traceback (a full or read-only disk on this machine says so
    instead). Nothing is registered until every upload is done, so the rerun, once the store takes
    writes, finds what was finished and goes on."""
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    try:
        yield
    except (MlflowException, RequestException) as exc:
        if failure := write_failure(exc):  # this machine's disk (its temporary copy, a SQLite store)
            raise failure from None
        raise TrackingError(
            f"MLflow at {public_uri(tracking_uri())} could not store {what}: {_answer(exc)}; fix the "
            "server's artifact store (its --artifacts-destination: a bucket that exists and takes writes), "
            "then run again"
        ) from None


def _answer(exc: Exception) -> str:
    """The store's own message: the `message` of the server's JSON answer where there is one, in one
    line."""
    try:
        message = exc.response.json()["message"]
    except (AttributeError, ValueError, KeyError, TypeError):  # no answer, or not MLflow's JSON
        message = str(exc)
    return " ".join(str(message).split())[:300]
