"""Prefect artifacts of a pipeline run: the before/after report and the metrics table."""

from __future__ import annotations

import json
import os
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from rlvr.evaluation import markdown_report, models_of
from rlvr.pipeline import paths

MLFLOW_UI = os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000")


def publish_report(root: Path) -> None:
    files = paths(root)
    metrics = json.loads(files["metrics"].read_text())
    registered = json.loads(files["registry"].read_text()) if files["registry"].is_file() else None
    create_markdown_artifact(
        key="rlvr-report",
        markdown=markdown_report(metrics, registered, MLFLOW_UI),
        description="Before/after",
    )
    create_table_artifact(
        key="rlvr-metrics",
        table=[{"model": name, **values} for name, values in models_of(metrics).items()],
        description="Held-out metrics per model",
    )
