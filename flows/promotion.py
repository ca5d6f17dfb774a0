"""Promote and rollback as flows, so both can be started from the Prefect UI; the logic is the CLI's."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.failures import in_one_line
from rlvr.evaluation.report import escaped
from rlvr.mlops import registry


def _decision_markdown(change: registry.AliasChange) -> str:
    lines = [escaped(change.message)]
    if change.decision:
        lines += ["", "| recorded | value |", "|---|---|"]
        lines += [f"| {key} | {escaped(json.dumps(value))} |" for key, value in change.decision.items()]
    return "\n".join(lines)


@flow(name="rlvr-promote")
@in_one_line
def promote(
    root: str = ".",
    model_name: str | None = None,
    margin: float | None = None,
    force: bool = False,
    evaluate_champion: bool = False,
) -> str:
    """Move `champion` to `challenger` if, on the same held-out problems, the lower bound of its paired
    95% interval beats the champion by more than `margin` (defaults: params.yaml's registry section).
    `force` promotes regardless (recorded); `evaluate_champion` scores the champion on the challenger's
    held-out problems first when the two were evaluated on different sets."""
    from rlvr.serving.versions import scorer

    name, margin = registry.settings(Path(root) / "params.yaml", model_name, margin)
    change = registry.promote(
        name,
        margin,
        force=force,
        evaluate=scorer(name) if evaluate_champion else None,
    )
    get_run_logger().info(change.message)
    create_markdown_artifact(key="rlvr-promotion", markdown=_decision_markdown(change), description="promote")
    return change.message


@flow(name="rlvr-rollback")
@in_one_line
def rollback(root: str = ".", model_name: str | None = None, reason: str = "") -> str:
    """Move `champion` back to the version it replaced; the version left is tagged `rolled_back` and is
    not promoted again unless forced."""
    name, _ = registry.settings(Path(root) / "params.yaml", model_name)
    change = registry.rollback(name, reason)
    get_run_logger().info(change.message)
    create_markdown_artifact(key="rlvr-promotion", markdown=escaped(change.message), description="rollback")
    return change.message
