"""The MLflow tracking store: refused in one line, within seconds, when it cannot work."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from typer.testing import CliRunner

from rlvr.cli import app
from rlvr.mlops import store
from rlvr.mlops.store import TrackingError


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers, like a hung or firewalled server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_read_only_commands_leave_no_stray_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for args in (["ask", "1+1?"], ["promote", "--name", "m"], ["rollback", "--name", "m"]):
        (tmp_path / "params.yaml").write_text("{}\n")
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "no MLflow store at" in result.output, result.output
    assert not (tmp_path / "mlflow.db").exists()


def test_a_sqlite_store_in_a_missing_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}")
    with pytest.raises(TrackingError, match="nowhere does not exist"):
        store.client()
    assert not (tmp_path / "nowhere").exists()


def test_an_unreachable_server_fails_fast_naming_the_uri(silent_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    for uri in (f"http://alice:pw@127.0.0.1:{silent_server}", "http://127.0.0.1:9"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        started = time.monotonic()
        result = CliRunner().invoke(app, ["promote", "--name", "m"])
        assert time.monotonic() - started < 15
        assert result.exit_code == 1
        port = uri.rsplit(":", 1)[1]
        assert f"cannot reach the MLflow tracking store at http://127.0.0.1:{port}" in result.output
        assert "pw" not in result.output


def test_public_uri_strips_credentials():
    assert store.public_uri("https://u:p@host:5000/mlflow?token=t") == "https://host:5000/mlflow"
    assert store.public_uri("postgresql+psycopg2://u:p@db:5432/m") == "postgresql+psycopg2://db:5432/m"
    assert store.public_uri("sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"


@pytest.fixture
def web_server():
    """A real HTTP server on loopback that is not MLflow: every path answers 404, / answers a page."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotMlflow(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/" else 404)
            self.end_headers()
            self.wfile.write(b"<html>an intranet page</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("bogus://somewhere", "MLflow has no tracking store for the scheme 'bogus'"),
        ("file:///{tmp}/mlruns", "MLflow cannot use the tracking store file:///"),
        ("http://user:pw@127.0.0.1:{port}", "answers HTTP but is not an MLflow tracking server"),
    ],
)
def test_a_store_mlflow_cannot_use_is_one_line_in_the_cli_and_the_stages(
    uri, says, web_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.format(tmp=tmp_path, port=web_server))
    with pytest.raises(TrackingError, match=says) as error:
        store.client()
    assert "\n" not in str(error.value) and "pw" not in str(error.value)
    result = CliRunner().invoke(app, ["promote", "--name", "m"])
    assert result.exit_code == 1 and says in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_damaged_store_file_is_one_line_naming_it(tmp_path, monkeypatch):
    """A store cut short (a full disk, a copy interrupted) or overwritten: `promote` and `ask` say which
    file and what to do, not a database traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    store.client().create_registered_model("m")
    whole = (tmp_path / "mlflow.db").read_bytes()
    for damaged in (whole[: len(whole) // 2], b"not a database at all " * 200):
        (tmp_path / "mlflow.db").write_bytes(damaged)
        for args in (["promote", "--name", "m"], ["ask", "1+1?", "--model", "models:/m@champion"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
            said = " ".join(result.output.split())
            assert f"{tmp_path / 'mlflow.db'} is not a whole SQLite database" in said
            assert "restore it from a backup" in said and "Traceback" not in said
        assert (tmp_path / "mlflow.db").read_bytes() == damaged  # left as it was, for whoever repairs it
