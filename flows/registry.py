"""Promote and rollback as flows, so both can be started from the Prefect UI; the logic is the CLI's."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from rlvr import registry
from rlvr.config import load_params


def _name(root: str, model_name: str | None) -> str:
    return model_name or load_params(Path(root) / "params.yaml").registry.model_name


@flow(name="rlvr-promote")
def promote(root: str = ".", model_name: str | None = None, margin: float | None = None) -> str:
    """Move `champion` to `challenger` if it wins on held-out accuracy by `margin`
    (defaults: params.yaml's registry.model_name and registry.promote_margin)."""
    params = load_params(Path(root) / "params.yaml").registry
    change = registry.promote(_name(root, model_name), params.promote_margin if margin is None else margin)
    get_run_logger().info(change.message)
    create_markdown_artifact(key="rlvr-promotion", markdown=change.message, description="promote")
    return change.message


@flow(name="rlvr-rollback")
def rollback(root: str = ".", model_name: str | None = None) -> str:
    """Move `champion` back to the version it replaced."""
    change = registry.rollback(_name(root, model_name))
    get_run_logger().info(change.message)
    create_markdown_artifact(key="rlvr-promotion", markdown=change.message, description="rollback")
    return change.message
