"""MLflow runs of the pipeline: one parent run per pipeline run, and a child run per stage that trains or
evaluates.

Each stage is its own process (`dvc repro` runs them one by one), so they meet in MLflow: the first
tracked stage of a pipeline run opens a parent run, tagged with this checkout and a hash of its inputs
(the validated params and the fetched data); each later stage finds it there. A stage opens its child run
once it knows it will do work (`stage_run`: sft, an arm of train, evaluate), streams per-step metrics into it
(`rlvr.mlops.live`), MLflow samples system metrics beside them, and the stage says what it published
(`StageRun.publish`). The register stage registers the model from the parent run and closes it.

A pipeline run that was killed leaves its runs open; the next run with the same inputs continues them
(a resumed training continues its own child run), and one with other inputs closes them as KILLED. A
stage rerun alone (`dvc repro -s report`) logs into the newest parent run with the same inputs, open or
finished, so no parent run is left open by a partial rerun.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rlvr.hashing import short_hash
from rlvr.mlops.store import artifact_root, check_artifacts, client, public_uri, tracking_uri

EXPERIMENT = "rlvr"
# What the Prefect pipeline flow tells the stages it runs, to tag the parent run with.
FLOW_RUN_ID_ENV = "RLVR_PREFECT_FLOW_RUN_ID"
FLOW_RUN_URL_ENV = "RLVR_PREFECT_FLOW_RUN_URL"
# Tags that find the runs again.
ROLE = "rlvr.role"  # "pipeline" on parent runs, the stage's name on child runs
STAGE = "rlvr.stage"
CHECKOUT = "rlvr.checkout"  # a hash of host and project path
INPUTS = "rlvr.inputs"  # a hash of the validated params and the fetched data
PARENT = "mlflow.parentRunId"
FLOW_RUN_ID = "prefect.flow_run_id"
FLOW_RUN_URL = "prefect.flow_run_url"
DVC_EXPERIMENT = "dvc.experiment"  # the `dvc exp run` experiment the pipeline run is
OUTPUT = "rlvr.output_md5"  # the adapter a training stage wrote, to find its run from the register stage
# Each model's held-out accuracy as one metric, a step per model in evaluation order: MLflow draws them
# side by side in one chart (the tag says which step is which model).
ACCURACY_BY_MODEL = "accuracy_by_model"


# The dataset a tracked stage learns from or is scored on: dvc.yaml's path name, the file, MLflow's context
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
    """The rlvr experiment's id; created with its artifacts in the store's artifact root (a SQLite store's
    `mlruns/`, not the working directory's), and refused where they were recorded elsewhere."""
    found = mlflow_client.get_experiment_by_name(EXPERIMENT)
    if found:
        check_artifacts(found.artifact_location)
        return found.experiment_id
    root = artifact_root(tracking_uri())
    return mlflow_client.create_experiment(EXPERIMENT, (root / EXPERIMENT).as_uri() if root else None)


def params_hash(params_file: Path) -> str:
    """sha256 of the validated params as canonical JSON: the same settings hash alike however the file is
    written (`dvc exp run -S` rewrites params.yaml, its quoting and comments)."""
    import hashlib
    import json

    from rlvr.config.schema import load_params

    content = load_params(params_file).model_dump(mode="json")
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _inputs(root: Path, params_file: Path) -> dict[str, str]:
    """What finds a pipeline run again (the checkout, the inputs' hash) and what it records of them. The
    git commit is not among them: a new parent run asks git (and DVC, for what the pipeline writes) once
    (`pipeline_run`), and every later stage of the run finds that parent without the cost."""
    from rlvr.mlops.lineage import dvc_out_hash

    params = params_hash(params_file)
    data = dvc_out_hash(root / "dvc.lock", "fetch") or "none"
    return {
        CHECKOUT: short_hash(f"{socket.gethostname()}:{root.resolve()}"),
        INPUTS: short_hash(f"{params}:{data}"),
        "params_hash": params,
        "data_md5": data,
        "rlvr.checkout_path": f"{socket.gethostname()}:{root.resolve()}",
    }


def run_name(when: datetime, profile: str, params_hash: str) -> str:
    """A parent run's name, for people: when, which profile, which params.

    >>> run_name(datetime(2026, 11, 26, 3, 0), "tiny+1", "1a2b3c4d5e")
    '2026-11-26 03:00 tiny+1 1a2b3c4'
    """
    return f"{when:%Y-%m-%d %H:%M} {profile} {params_hash[:7]}"


def _flow_tags() -> dict[str, str]:
    """Who started the pipeline run: a Prefect flow run, a DVC experiment (`dvc exp run` names it)."""
    tags = {
        FLOW_RUN_ID: os.environ.get(FLOW_RUN_ID_ENV),
        FLOW_RUN_URL: os.environ.get(FLOW_RUN_URL_ENV),
        DVC_EXPERIMENT: os.environ.get("DVC_EXP_NAME"),
    }
    return {key: value for key, value in tags.items() if value}


def pipeline_run(mlflow_client, root: Path = Path("."), params_file: Path = Path("params.yaml")) -> str:
    """The id of this pipeline run's parent run: the newest of this checkout with the same inputs, open or
    finished (a stage rerun alone belongs to the run whose outputs it reruns), else a new one (named by
    `run_name`, holding every param). Open runs of this checkout with other inputs were left by an
    earlier, unfinished pipeline run: they are closed as KILLED."""
    from mlflow.entities import Param, RunStatus

    from rlvr.config.profiles import closest_profile
    from rlvr.config.schema import ParamsError
    from rlvr.config.yamlfile import read_yaml

    experiment = experiment_id(mlflow_client)
    tags = _inputs(root, params_file)
    runs = mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`{ROLE}` = 'pipeline' and tags.`{CHECKOUT}` = '{tags[CHECKOUT]}'",
        order_by=["attributes.start_time DESC"],
        max_results=200,
    )
    same = [run for run in runs if run.data.tags.get(INPUTS) == tags[INPUTS]]
    current = next((run.info.run_id for run in same if run.info.status in ("RUNNING", "FINISHED")), None)
    for run in runs:
        if run.info.status == "RUNNING" and run.info.run_id != current:
            mlflow_client.set_tag(run.info.run_id, "rlvr.closed", "inputs changed before it finished")
            mlflow_client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    if current is not None:
        for key, value in _flow_tags().items():
            mlflow_client.set_tag(current, key, value)
        return current
    from rlvr.mlops.lineage import git_commit

    tags["git_commit"] = git_commit(root)
    values = read_yaml(params_file, ParamsError)
    profile = closest_profile(root, values)
    note = (
        f"rlvr pipeline run in {tags['rlvr.checkout_path']}: profile {profile}, params "
        f"{tags['params_hash'][:8]}, data {tags['data_md5'][:8]}, git {tags['git_commit'][:8]}. Each stage "
        "(sft, grpo, evaluate) logs live into its child run; the register stage logs the held-out evaluation "
        "and registers the model from this run."
    )
    run = mlflow_client.create_run(
        experiment,
        run_name=" ".join(
            filter(
                None, [run_name(datetime.now(), profile, tags["params_hash"]), os.environ.get("DVC_EXP_NAME")]
            )
        ),
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


@dataclass(frozen=True)
class StageRun:
    """The MLflow child run a stage logs into; `run_id` None in the processes of a distributed run
    other than the first, which log nothing."""

    run_id: str | None

    def publish(self, adapter: Path | None = None, evaluation: dict | None = None) -> None:
        """What the stage made, on its run: the hash of the adapter it trained (so the register stage
        finds the run that trained the adapter it registers, even in an earlier pipeline run), and the
        held-out metrics it measured (eval.json's content)."""
        if self.run_id is None:
            return
        import mlflow

        from rlvr.hashing import hash_path

        if adapter is not None:
            mlflow.set_tag(OUTPUT, hash_path(adapter))
        if evaluation is not None:  # named as the register stage names them on the parent run: one name each
            mlflow.log_metrics(
                {f"heldout/{key}": value for key, value in heldout_metrics(evaluation).items()}
            )
            models = [name for name, values in evaluation.items() if isinstance(values, dict)]
            for step, name in enumerate(models):
                mlflow.log_metric(ACCURACY_BY_MODEL, evaluation[name]["accuracy"], step=step)
            mlflow.set_tag(ACCURACY_BY_MODEL, ", ".join(f"step {i}: {name}" for i, name in enumerate(models)))


@dataclass(frozen=True)
class StageDataset:
    """The problems a stage trains on or is scored on (`problem` and `answer` of each row), where it read
    them, and the name MLflow shows."""

    rows: Sequence[Mapping]
    source: str
    name: str


@contextmanager
def stage_run(
    stage: str, params_file: Path, root: Path = Path("."), dataset: StageDataset | None = None
) -> Iterator[StageRun]:
    """The stage's child run (named `stage`) as the active MLflow run, with system metrics, for the body
    of the `with`; it ends FINISHED, or FAILED when the body raises. Of several training processes only
    the first (rank 0) tracks. A new run records the stage's params and `dataset` as its input."""
    import logging

    import mlflow

    if os.environ.get("RANK", "0") != "0":
        yield StageRun(None)
        return
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # start/stop lines, GPU absent
    for chatty in ("mlflow.store.db.utils", "alembic"):  # "creating the tables" on a new store
        logging.getLogger(chatty).setLevel(logging.WARNING)
    mlflow_client = client()
    parent = pipeline_run(mlflow_client, root, params_file)
    run_id, resumed = stage_child(mlflow_client, parent, stage)
    with mlflow.start_run(run_id=run_id, log_system_metrics=True):
        if resumed:
            mlflow.set_tag("rlvr.resumed", datetime.now().isoformat(timespec="seconds"))
        else:
            log_stage_inputs(stage, params_file, root, dataset)
        print(f"{stage}: MLflow run {run_id} (parent {parent}) at {public_uri(tracking_uri())}", flush=True)
        yield StageRun(run_id)


def log_stage_inputs(stage: str, params_file: Path, root: Path, dataset: StageDataset | None) -> None:
    """On the active (child) run: the params sections the DVC stage running reads (dvc.yaml's `params` of
    `DVC_STAGE`; the parent holds them all), so MLflow's compare view compares stage runs, and the problems
    the stage learns from or is scored on (`dataset`, as the stage read them), their content hash as
    digest."""
    import json
    import warnings

    import mlflow
    import pandas as pd
    import yaml

    from rlvr.config.schema import ParamsError
    from rlvr.config.yamlfile import read_yaml

    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    definition = spec["stages"].get(os.environ.get("DVC_STAGE", "").partition("@")[0])
    if definition is not None:
        sections = definition.get("params") or definition["do"]["params"]
        values = flatten(read_yaml(params_file, ParamsError))
        mlflow.log_params(
            {
                key: value[:6000]
                for key, value in values.items()
                if any(key == s or key.startswith(f"{s}.") for s in sections)
            }
        )
    if dataset is None:
        return
    rows = [{"problem": row["problem"], "answer": row["answer"]} for row in dataset.rows]
    digest = short_hash(json.dumps(rows, sort_keys=True))[:16]
    frame = pd.DataFrame(rows, columns=["problem", "answer"])
    with warnings.catch_warnings():  # MLflow registers its local-file source twice and warns that it guessed
        warnings.simplefilter("ignore", UserWarning)
        logged = mlflow.data.from_pandas(frame, source=dataset.source, name=dataset.name, digest=digest)
    mlflow.log_input(logged, context="evaluation" if stage == "evaluate" else "training")


def training_run(mlflow_client, adapter: Path) -> str | None:
    """The id of the finished run that wrote this adapter, if it was tracked."""
    from rlvr.hashing import hash_path

    found = mlflow_client.search_runs(
        [experiment_id(mlflow_client)],
        filter_string=f"tags.`{OUTPUT}` = '{hash_path(adapter)}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None
