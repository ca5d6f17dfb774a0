"""Promotion and rollback on a real SQLite-backed MLflow registry, and the CLI that drives them."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from rlvr import registry
from rlvr.cli import app
from rlvr.registry import ACCURACY_TAG, RegistryError, flatten


@pytest.fixture
def client(tmp_path, monkeypatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return registry.client()


def add_version(client: MlflowClient, accuracy: float, name: str = "m") -> str:
    """A registered version with a held-out accuracy tag, as the register stage leaves it."""
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, source=Path.cwd().as_uri(), tags={ACCURACY_TAG: str(accuracy)}
    )
    client.set_registered_model_alias(name, registry.CHALLENGER, version.version)
    return version.version


def aliases(client: MlflowClient, name: str = "m") -> dict[str, int]:
    return dict(sorted((alias, int(v)) for alias, v in client.get_registered_model(name).aliases.items()))


def test_first_promotion_makes_the_challenger_champion(client):
    add_version(client, 0.5)
    change = registry.promote("m", margin=0.1)
    assert change.moved and change.champion == 1
    assert aliases(client) == {"challenger": 1, "champion": 1}


def test_challenger_must_win_by_the_margin(client):
    add_version(client, 0.50)
    registry.promote("m", margin=0.0)
    add_version(client, 0.55)
    kept = registry.promote("m", margin=0.1)
    assert not kept.moved and "kept champion v1" in kept.message and "needs at least 0.600" in kept.message
    assert aliases(client) == {"challenger": 2, "champion": 1}
    moved = registry.promote("m", margin=0.05)
    assert moved.moved and (moved.previous, moved.champion) == (1, 2)
    assert aliases(client) == {"challenger": 2, "champion": 2}


def test_promoting_the_champion_again_changes_nothing(client):
    add_version(client, 0.5)
    registry.promote("m", margin=0.0)
    change = registry.promote("m", margin=0.0)
    assert not change.moved and "already champion" in change.message


def test_rollback_walks_back_through_replaced_champions(client):
    for accuracy in (0.1, 0.2, 0.3):
        add_version(client, accuracy)
        registry.promote("m", margin=0.0)
    assert aliases(client)["champion"] == 3
    assert registry.rollback("m").champion == 2
    assert registry.rollback("m").champion == 1
    assert aliases(client) == {"challenger": 3, "champion": 1}
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback("m")


def test_errors_name_what_is_missing(client):
    with pytest.raises(RegistryError, match="no registered model 'ghost'"):
        registry.promote("ghost", margin=0.0)
    client.create_registered_model("m")
    with pytest.raises(RegistryError, match="no 'challenger' version"):
        registry.promote("m", margin=0.0)


def test_cli_promote_and_rollback_report_what_they_did(client, tmp_path):
    from tests.conftest import ROOT

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    add_version(client, 0.4, name="rlvr-math")
    add_version(client, 0.9, name="rlvr-math")
    client.set_registered_model_alias("rlvr-math", "champion", "1")
    runner = CliRunner()
    result = runner.invoke(app, ["promote", "--margin", "0.2"])
    assert result.exit_code == 0, result.output
    assert "champion v1 -> v2" in result.output
    result = runner.invoke(app, ["rollback"])
    assert result.exit_code == 0 and "champion v2 -> v1 (rolled back)" in result.output
    result = runner.invoke(app, ["rollback"])
    assert result.exit_code == 1 and "no earlier champion" in result.output


def test_flatten_makes_dotted_string_params():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {
        "a.b": "1",
        "a.c.d": "None",
        "e": "[1, 2]",
    }
