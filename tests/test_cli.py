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


def test_ask_refuses_a_question_that_is_not_utf8_in_one_line(tmp_path):
    """Bytes that are not UTF-8 in the argument (a Latin-1 terminal) reach the command as surrogates; the
    tokenizer would raise on them: one line instead, before any model is loaded."""
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "ask", b"What is 4\xff + 2?"],
        capture_output=True,
        text=True,
        env={**project_env(tmp_path), "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert (
        result.stdout
        == "error: the question is not UTF-8 (byte 0xff at character 9); type it in a UTF-8 terminal\n"
    )
    assert result.stderr == "" and not (tmp_path / "mlflow.db").exists()


def test_report_is_readable_at_80_columns(tmp_path):
    """Every interval on one line, in the tables and in the conclusions below them, and no line wider
    than the terminal: `rlvr report` at 80 columns split "28.6% [21.7," from "36.5]"."""
    import json
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from rlvr.evaluation.report import comparison_rows, delta_rows

    shutil.copy(Path(__file__).parents[1] / "dvc.yaml", tmp_path / "dvc.yaml")
    models = {"base": (0.0, 0.0, 0.027), "sft": (0.286, 0.217, 0.365), "grpo": (0.343, 0.269, 0.425)}
    models["grpo_from_base"] = (0.3, 0.229, 0.381)
    metrics = {
        name: {"accuracy": a, "accuracy_ci_low": lo, "accuracy_ci_high": hi, "format": 1.0,
               "mean_length": 35.5, "problems": 140}
        for name, (a, lo, hi) in models.items()
    }  # fmt: skip
    metrics["comparisons"] = [
        {"from": a, "to": b, "delta": d, "ci_low": lo, "ci_high": hi, "p_value": p, "n": 140,
         "fixed": fixed, "broken": broken}
        for a, b, d, lo, hi, p, fixed, broken in (
            ("base", "sft", 0.286, 0.214, 0.364, 9e-13, 40, 0),
            ("sft", "grpo", 0.057, 0.0, 0.114, 0.049, 12, 4),
            ("grpo_from_base", "grpo", 0.043, -0.021, 0.107, 0.23, 15, 9),
        )
    ]  # fmt: skip
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(metrics))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rlvr"), "report", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**project_env(tmp_path), "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines if str(tmp_path) not in line) <= 80  # a path cannot wrap
    whole = [row[1] for row in comparison_rows(metrics)] + [row[1] for row in delta_rows(metrics)]
    whole += [interval for row in delta_rows(metrics) for interval in re.findall(r"\[[^\]]*\]", row[3])]
    assert len(whole) == 4 + 3 + 3
    for text in whole:
        assert any(text in line for line in lines), (text, result.stdout)
    for name in models:  # names are not cut either
        assert any(line.startswith(f"│ {name} ") for line in lines), name
