"""Prefect artifacts of a pipeline run: the before/after report, the metrics table, and the held-out
problems side by side."""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from rlvr.config.profiles import ParamsChange
from rlvr.evaluation.predictions import models_and_pairs, side_by_side
from rlvr.evaluation.report import changed_rows_markdown, markdown_report, table_artifact
from rlvr.files import read_arms_report, read_evaluation, read_jsonl, read_registry_record
from rlvr.mlops.dvcfile import paths
from rlvr.mlops.store import ui_url


def run_note(outcome: dict[str, str], registered: dict | None) -> str:
    """What this run did: retrained (and which stages ran), or nothing, with the run it shows."""
    ran = [stage for stage, result in outcome.items() if result == "ran"]
    if ran:
        return f"Stages run: {', '.join(ran)}; the others were up to date."
    if registered is None:
        return "No retraining: every stage was up to date."
    run = registered.get("run_name") or registered["run_id"]
    link = f"{ui_url()}/#/experiments/{registered['experiment_id']}/runs/{registered['run_id']}"
    version = (
        f"{registered['model_name']} v{registered['version']}" if registered.get("version") else "no version"
    )
    return f"No retraining: every stage was up to date; showing run [{run}]({link}), {version}."


def publish_report(root: Path, outcome: dict[str, str], change: ParamsChange) -> None:
    files = paths(root)
    evaluation = read_evaluation(files["metrics"])
    registered = read_registry_record(files["registry"]).model_dump() if files["registry"].is_file() else None
    models, pairs = models_and_pairs(evaluation)
    rows = side_by_side(read_jsonl(files["predictions"]), models, pairs)
    arms = read_arms_report(files["arms_report"]) if files["arms_report"].is_file() else {}
    notes = [*arms.get("conclusions", []), *(f"**Warning:** {w}" for w in arms.get("warnings", []))]
    sections = [
        markdown_report(evaluation, registered, ui_url(), notes),
        f"\n{run_note(outcome, registered)}\n\n{change.describe()}",
        "\n## Answers that changed\n",
        changed_rows_markdown(rows, pairs),
    ]
    create_markdown_artifact(key="rlvr-report", markdown="\n".join(sections), description="Before/after")
    create_table_artifact(
        key="rlvr-metrics",
        table=table_artifact([{"model": name, **evaluation[name]} for name in models]),
        description="Held-out metrics per model",
    )
    create_table_artifact(
        key="rlvr-side-by-side",
        table=table_artifact(rows),
        description="Each held-out problem: every model's completion and correctness, what changed",
    )
