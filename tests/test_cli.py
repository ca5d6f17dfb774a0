"""The `rlvr` command on the reproduced project: `ask` answers with the champion."""

from __future__ import annotations

from tests.conftest import greedy_answers, project_env


def test_ask_answers_with_the_champion_adapter(reproduced, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from rlvr.cli import app

    project = reproduced[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project_env(project)["MLFLOW_TRACKING_URI"])
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    question = "What is 12 + 30?"
    expected = greedy_answers(project, [question])
    runner = CliRunner()
    result = runner.invoke(
        app, ["ask", question, "--show-reasoning", "--model", "models:/rlvr-math@champion"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == expected[0] + "\n"
    cached = list((tmp_path / "cache" / "registry").glob("*/MLmodel"))
    assert len(cached) == 1  # the version, downloaded once (and its digest beside it)
    assert len(list((tmp_path / "cache" / "registry").glob("*.json"))) == 1
    # the random tiny model writes no solution section: ask says so and prints the completion
    result = runner.invoke(app, ["ask", question, "--model", "models:/rlvr-math/1"])
    assert result.exit_code == 0 and result.stdout == expected[0] + "\n"
    assert "no <SOLUTION> section" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
    # a blank question, and one longer than the model reads, are refused in one line before generating
    for asked, says in (("  ", "the question is empty"), ("What is 1 + 1? " * 600, "shorten the question")):
        result = runner.invoke(app, ["ask", asked, "--model", "models:/rlvr-math/1"])
        assert result.exit_code == 1 and says in " ".join(result.output.split()), result.output


def test_ask_names_a_missing_model(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rlvr.cli import app
    from rlvr.mlops.store import client

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    client()
    result = CliRunner().invoke(app, ["ask", "1+1?", "--model", "models:/nothing@champion"])
    assert result.exit_code == 1 and "cannot load models:/nothing@champion" in result.output
    result = CliRunner().invoke(app, ["ask", "1+1?", "--model", "runs:/abc/model"])
    assert result.exit_code == 1 and "is not a registered model URI" in result.output
