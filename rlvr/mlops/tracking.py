"""Live MLflow tracking: the tracking URI, one parent run per pipeline run, and a child run per stage.

Each stage is its own process (`dvc repro` runs them one by one), so they meet in MLflow: the first
tracked stage of a pipeline run opens a parent run, tagged with this checkout and a hash of its inputs
(params.yaml and the fetched data); each later stage finds it there. A stage opens its child run as it
starts (sft, grpo, evaluate), streams per-step metrics into it (`live_metrics`), and MLflow samples
system metrics beside them. The register stage registers the model from the parent run and closes it.

A pipeline run that was killed leaves its runs open; the next run with the same inputs continues them
(a resumed training continues its own child run), and one with other inputs closes them as KILLED.

The tracking URI is MLFLOW_TRACKING_URI, else a SQLite file in the working directory: offline, no server.
It is checked before anything is logged: an unreachable server fails within seconds, naming the URI, and
a SQLite URI whose directory does not exist is refused rather than created.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rlvr.errors import RlvrError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "rlvr"
CONNECT_TIMEOUT_S = 5.0
# MLflow's own HTTP client retries for minutes by default; these bound a hanging server to seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}
# What the Prefect pipeline flow tells the stages it runs, to tag the parent run with.
FLOW_RUN_ID_ENV = "RLVR_PREFECT_FLOW_RUN_ID"
FLOW_RUN_URL_ENV = "RLVR_PREFECT_FLOW_RUN_URL"
# Tags that find the runs again.
ROLE = "rlvr.role"  # "pipeline" on parent runs, the stage's name on child runs
STAGE = "rlvr.stage"
CHECKOUT = "rlvr.checkout"  # a hash of host and project path
INPUTS = "rlvr.inputs"  # a hash of params.yaml and the fetched data
PARENT = "mlflow.parentRunId"
FLOW_RUN_ID = "prefect.flow_run_id"
FLOW_RUN_URL = "prefect.flow_run_url"
OUTPUT = "rlvr.output_md5"  # the adapter a training stage wrote, to find its run from the register stage


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


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """Nested params as MLflow params: dotted keys, values as strings.

    >>> flatten({"train": {"lr": 0.1, "rewards": {"accuracy": 1.0}}})
    {'train.lr': '0.1', 'train.rewards.accuracy': '1.0'}
    """
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def metric_name(key: str) -> str:
    """A logged key as an MLflow metric name (letters, digits, `_-. /`).

    >>> metric_name("rewards/accuracy:mean")
    'rewards/accuracy_mean'
    """
    return re.sub(r"[^\w\-. /]", "_", key)


def heldout_metrics(evaluation: dict) -> dict[str, float]:
    """eval.json as flat metrics: `<model>/<key>` per model, `<from>_vs_<to>/<key>` per comparison.

    >>> comparison = {"from": "base", "to": "grpo", "delta": 0.25, "ci_low": 0.0, "p_value": 1, "n": 4}
    >>> heldout_metrics({"base": {"accuracy": 0.5, "problems": 4}, "comparisons": [comparison]})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'base/accuracy': 0.5, 'base/problems': 4.0, 'base_vs_grpo/delta': 0.25, 'base_vs_grpo/ci_low': 0.0,
     'base_vs_grpo/p_value': 1.0, 'base_vs_grpo/n': 4.0}
    """
    flat: dict[str, float] = {}
    for name, values in evaluation.items():
        rows = values if isinstance(values, list) else [values]
        for row in rows:
            prefix = f"{row['from']}_vs_{row['to']}" if isinstance(values, list) else name
            for key, value in row.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    flat[metric_name(f"{prefix}/{key}")] = float(value)
    return flat


def experiment_id(mlflow_client) -> str:
    found = mlflow_client.get_experiment_by_name(EXPERIMENT)
    return found.experiment_id if found else mlflow_client.create_experiment(EXPERIMENT)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _inputs(root: Path, params_file: Path) -> dict[str, str]:
    from rlvr.mlops.lineage import dvc_out_hash, git_commit, hash_path

    params_hash = hash_path(params_file)
    data = dvc_out_hash(root / "dvc.lock", "fetch") or "none"
    return {
        CHECKOUT: _short_hash(f"{socket.gethostname()}:{root.resolve()}"),
        INPUTS: _short_hash(f"{params_hash}:{data}"),
        "params_hash": params_hash,
        "data_md5": data,
        "git_commit": git_commit(root),
        "rlvr.checkout_path": f"{socket.gethostname()}:{root.resolve()}",
    }


def run_name(when: datetime, profile: str, params_hash: str) -> str:
    """A parent run's name, for people: when, which profile, which params.

    >>> run_name(datetime(2026, 11, 26, 3, 0), "tiny+1", "1a2b3c4d5e")
    '2026-11-26 03:00 tiny+1 1a2b3c4'
    """
    return f"{when:%Y-%m-%d %H:%M} {profile} {params_hash[:7]}"


def _flow_tags() -> dict[str, str]:
    tags = {FLOW_RUN_ID: os.environ.get(FLOW_RUN_ID_ENV), FLOW_RUN_URL: os.environ.get(FLOW_RUN_URL_ENV)}
    return {key: value for key, value in tags.items() if value}


def pipeline_run(mlflow_client, root: Path = Path("."), params_file: Path = Path("params.yaml")) -> str:
    """The id of this pipeline run's parent run: the open one of this checkout with the same inputs,
    else a new one (named by `run_name`, holding every param). Open runs of this checkout with other
    inputs were left by an earlier, unfinished pipeline run: they are closed as KILLED."""
    import yaml
    from mlflow.entities import Param, RunStatus

    from rlvr.config.profiles import closest_profile

    experiment = experiment_id(mlflow_client)
    tags = _inputs(root, params_file)
    open_runs = mlflow_client.search_runs(
        [experiment],
        filter_string=(
            f"tags.`{ROLE}` = 'pipeline' and tags.`{CHECKOUT}` = '{tags[CHECKOUT]}' "
            "and attributes.status = 'RUNNING'"
        ),
        order_by=["attributes.start_time DESC"],
    )
    current = None
    for run in open_runs:
        if current is None and run.data.tags.get(INPUTS) == tags[INPUTS]:
            current = run.info.run_id
        else:
            mlflow_client.set_tag(run.info.run_id, "rlvr.closed", "inputs changed before it finished")
            mlflow_client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    if current is not None:
        for key, value in _flow_tags().items():
            mlflow_client.set_tag(current, key, value)
        return current
    values = yaml.safe_load(params_file.read_text())
    profile = closest_profile(root, values)
    note = (
        f"rlvr pipeline run in {tags['rlvr.checkout_path']}: profile {profile}, params "
        f"{tags['params_hash'][:8]}, data {tags['data_md5'][:8]}, git {tags['git_commit'][:8]}. Each stage "
        "(sft, grpo, evaluate) logs live into its child run; the register stage logs the held-out evaluation "
        "and registers the model from this run."
    )
    run = mlflow_client.create_run(
        experiment,
        run_name=run_name(datetime.now(), profile, tags["params_hash"]),
        tags={ROLE: "pipeline", **tags, **_flow_tags(), "mlflow.note.content": note},
    )
    params = [Param(key, value[:6000]) for key, value in flatten(values).items()]
    mlflow_client.log_batch(run.info.run_id, params=params)
    return run.info.run_id


def stage_child(mlflow_client, parent: str, stage: str) -> tuple[str, bool]:
    """The child run of `stage` under `parent` to log into, and whether it continues an unfinished one."""
    experiment = mlflow_client.get_run(parent).info.experiment_id
    children = mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`{PARENT}` = '{parent}' and tags.`{STAGE}` = '{stage}'",
        order_by=["attributes.start_time DESC"],
    )
    for run in children:
        if run.info.status != "FINISHED":
            return run.info.run_id, True
    run = mlflow_client.create_run(
        experiment, run_name=stage, tags={PARENT: parent, ROLE: stage, STAGE: stage}
    )
    return run.info.run_id, False


def tracked(main: Callable, stage: str | Callable[[dict], str]) -> Callable:
    """A stage's `main` run inside its own MLflow child run of the pipeline run, opened once its params
    validate; `stage` is the run's name, or a function of the stage's options that gives it. `main` takes
    a `params` option, and its `out` (an adapter) and `metrics` (eval.json) options, when it has them,
    are recorded on the run when it succeeds. Of several training processes only the first tracks: it
    continues the run its launcher opened."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        if os.environ.get("RANK", "0") != "0":
            return main(*args, **kwargs)
        from rlvr.config.params import load_params

        load_params(kwargs["params"])
        with stage_run(stage(kwargs) if callable(stage) else stage, Path(kwargs["params"])):
            result = main(*args, **kwargs)
            record_outputs(adapter=kwargs.get("out"), evaluation=kwargs.get("metrics"))
            return result

    return run


@contextmanager
def stage_run(stage: str, params_file: Path = Path("params.yaml"), root: Path = Path(".")) -> Iterator:
    """The stage's child run as the active MLflow run, with system metrics, for the stage's whole body;
    it ends FINISHED, or FAILED when the body raises."""
    import logging

    import mlflow

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # start/stop lines, GPU absent
    for chatty in ("mlflow.store.db.utils", "alembic"):  # "creating the tables" on a new store
        logging.getLogger(chatty).setLevel(logging.WARNING)
    mlflow_client = client()
    parent = pipeline_run(mlflow_client, root, params_file)
    run_id, resumed = stage_child(mlflow_client, parent, stage)
    with mlflow.start_run(run_id=run_id, log_system_metrics=True) as run:
        if resumed:
            mlflow.set_tag("rlvr.resumed", datetime.now().isoformat(timespec="seconds"))
        print(f"{stage}: MLflow run {run_id} (parent {parent}) at {public_uri(tracking_uri())}", flush=True)
        yield run


def record_outputs(adapter: Path | None = None, evaluation: Path | None = None) -> None:
    """What a stage wrote, on its active run: the hash of the adapter it trained (so the register stage
    finds the run that trained the adapter it registers, even in an earlier pipeline run), and the
    held-out metrics it measured."""
    import json

    import mlflow

    from rlvr.mlops.lineage import hash_path

    if mlflow.active_run() is None:
        return
    if adapter is not None and Path(adapter).exists():
        mlflow.set_tag(OUTPUT, hash_path(adapter))
    if evaluation is not None and Path(evaluation).is_file():
        mlflow.log_metrics(heldout_metrics(json.loads(Path(evaluation).read_text())))


def training_run(mlflow_client, adapter: Path) -> str | None:
    """The id of the finished run that wrote this adapter, if it was tracked."""
    from rlvr.mlops.lineage import hash_path

    found = mlflow_client.search_runs(
        [experiment_id(mlflow_client)],
        filter_string=f"tags.`{OUTPUT}` = '{hash_path(adapter)}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def live_metrics(trainer, completions_every: int = 0):
    """A TrainerCallback that streams each logged step into the active MLflow run and, every
    `completions_every` steps of a GRPO trainer, a table of the completions it just sampled (the buffer
    TRL's `log_completions` prints from), without printing them. Outside a tracked stage it does nothing.
    A tracking server that fails mid-training costs a warning, never the training."""
    from transformers import TrainerCallback

    class LiveMetrics(TrainerCallback):
        failed = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            import mlflow

            if mlflow.active_run() is None or self.failed:
                return
            numbers = {
                metric_name(k): float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
            try:
                mlflow.log_metrics(numbers, step=state.global_step)
                due = completions_every and state.global_step % completions_every == 0
                if due and "train_runtime" not in numbers:
                    self.log_completions(state.global_step)
            except Exception as exc:  # whatever the tracking store's failure, training goes on
                self.failed = True
                print(f"warning: MLflow logging stopped ({exc}); training goes on", file=sys.stderr)

        def log_completions(self, step: int) -> None:
            import mlflow
            import pandas as pd

            from rlvr.verify.parsing import completion_text

            buffer = getattr(trainer, "_logs", None)
            if not buffer or not buffer.get("prompt"):
                return
            rows = {
                "step": [step] * len(buffer["prompt"]),
                "prompt": [_last_message(p) for p in buffer["prompt"]],
                "completion": [completion_text(c) for c in buffer["completion"]],
                **{f"reward/{name}": list(values) for name, values in buffer["rewards"].items()},
                "advantage": list(buffer["advantages"]),
            }
            mlflow.log_table(pd.DataFrame(rows), artifact_file="completions.json")

    return LiveMetrics()


def _last_message(prompt: object) -> str:
    """The question of a chat prompt (its last message), or the prompt itself when it is text."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        return str(prompt[-1].get("content", ""))
    return str(prompt)
