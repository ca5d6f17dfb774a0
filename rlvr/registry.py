"""The MLflow side: one run per pipeline run, the adapter as a registered model version, and aliases.

Aliases carry the promotion state: `challenger` is the newest registered version, `champion` the one in
use. `promote` moves `champion` to the challenger only when it wins on held-out accuracy by the margin;
the champions it replaced are kept, newest last, in the registered model's `champion_history` tag, which
`rollback` pops. The tracking URI comes from MLFLOW_TRACKING_URI, else a local SQLite file, so the
registry works with no server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rlvr.errors import RlvrError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "rlvr"
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
ACCURACY_TAG = "heldout_accuracy"


class RegistryError(RlvrError):
    """A registry operation that cannot be done (no such model, no challenger, nothing to roll back to)."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def client():
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri())
    return MlflowClient()


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


@dataclass(frozen=True)
class Registered:
    run_id: str
    experiment_id: str
    model_name: str
    version: int
    champion: bool

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def log_and_register(
    *,
    model_name: str,
    params: dict,
    metrics: dict[str, dict[str, float]],
    step_logs: dict[str, list[dict]],
    predictions: list[dict],
    plots: list[Path],
    adapter: Path,
    model_config: dict,
    lineage: dict[str, str],
) -> Registered:
    """Log a pipeline run (params, per-step and held-out metrics, predictions, plots) and register its
    adapter as a new version of `model_name` with alias `challenger` (and `champion` if there is none)."""
    import mlflow
    import pandas as pd

    from rlvr.evaluation import models_of
    from rlvr.serving import AdapterModel, requirements

    mlflow_client = client()
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"pipeline-{lineage['params_hash'][:8]}") as run:
        mlflow.set_tags(lineage)
        mlflow.log_params(flatten(params))
        for stage, rows in step_logs.items():
            for row in rows:
                step = int(row["step"])
                mlflow.log_metrics(
                    {f"{stage}/{k.replace(':', '_')}": v for k, v in row.items() if k != "step"}, step=step
                )
        for model, values in models_of(metrics).items():
            mlflow.log_metrics({f"heldout/{model}/{k}": v for k, v in values.items()})
        mlflow.log_table(pd.DataFrame(predictions), artifact_file="predictions.json")
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")
        info = mlflow.pyfunc.log_model(
            name="adapter",
            python_model=AdapterModel(),
            artifacts={"adapter": str(adapter)},
            model_config=model_config,
            pip_requirements=requirements(),
            registered_model_name=model_name,
        )
    version = int(info.registered_model_version)
    accuracy = metrics["grpo"]["accuracy"]
    for key, value in {**lineage, ACCURACY_TAG: str(accuracy)}.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, value)
    mlflow_client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    first = _alias_version(mlflow_client, model_name, CHAMPION) is None
    if first:
        mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(version))
    return Registered(run.info.run_id, run.info.experiment_id, model_name, version, champion=first)


def _alias_version(mlflow_client, model_name: str, alias: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        return int(mlflow_client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _accuracy(mlflow_client, model_name: str, version: int) -> float:
    tags = mlflow_client.get_model_version(model_name, str(version)).tags
    if ACCURACY_TAG not in tags:
        raise RegistryError(
            f"{model_name} version {version} has no {ACCURACY_TAG} tag; register it with rlvr"
        )
    return float(tags[ACCURACY_TAG])


def _history(mlflow_client, model_name: str) -> list[int]:
    return json.loads(mlflow_client.get_registered_model(model_name).tags.get(HISTORY_TAG, "[]"))


def _require_model(mlflow_client, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        names = [m.name for m in mlflow_client.search_registered_models()]
        raise RegistryError(
            f"no registered model '{model_name}' at {tracking_uri()}; registered models: {names or 'none'}"
        ) from None


@dataclass(frozen=True)
class AliasChange:
    """What `promote` or `rollback` did; `message` says it in a sentence."""

    moved: bool
    champion: int
    previous: int | None
    message: str


def promote(model_name: str, margin: float) -> AliasChange:
    """Move `champion` to the `challenger` if its held-out accuracy beats the champion's by `margin`."""
    mlflow_client = client()
    _require_model(mlflow_client, model_name)
    challenger = _alias_version(mlflow_client, model_name, CHALLENGER)
    if challenger is None:
        raise RegistryError(f"{model_name} has no '{CHALLENGER}' version; run the register stage first")
    champion = _alias_version(mlflow_client, model_name, CHAMPION)
    new = _accuracy(mlflow_client, model_name, challenger)
    if champion is None:
        mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(challenger))
        return AliasChange(
            True, challenger, None, f"{model_name}: no champion yet; version {challenger} is champion"
        )
    if champion == challenger:
        return AliasChange(False, champion, champion, f"{model_name}: version {champion} is already champion")
    old = _accuracy(mlflow_client, model_name, champion)
    if new < old + margin:
        return AliasChange(
            False,
            champion,
            champion,
            f"{model_name}: kept champion v{champion} (accuracy {old:.3f}); challenger v{challenger} has "
            f"{new:.3f}, needs at least {old + margin:.3f} (margin {margin})",
        )
    history = [*_history(mlflow_client, model_name), champion]
    mlflow_client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(challenger))
    return AliasChange(
        True,
        challenger,
        champion,
        f"{model_name}: champion v{champion} -> v{challenger} "
        f"(accuracy {old:.3f} -> {new:.3f}, margin {margin})",
    )


def rollback(model_name: str) -> AliasChange:
    """Move `champion` back to the version it replaced last."""
    mlflow_client = client()
    _require_model(mlflow_client, model_name)
    history = _history(mlflow_client, model_name)
    if not history:
        raise RegistryError(f"{model_name}: no earlier champion to roll back to")
    current = _alias_version(mlflow_client, model_name, CHAMPION)
    previous = history.pop()
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(previous))
    mlflow_client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return AliasChange(
        True, previous, current, f"{model_name}: champion v{current} -> v{previous} (rolled back)"
    )
