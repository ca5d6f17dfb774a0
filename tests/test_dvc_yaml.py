"""dvc.yaml against the code: every stage depends on exactly the modules it runs, directly imported or not
(so editing one reruns what it can change, and nothing else), as `rlvr deps` writes them; the register
stage not on the schedule or the logging settings; and the models and arms named alike wherever DVC
cannot loop over them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rlvr.mlops.codedeps import stage_code, with_code_deps
from tests.conftest import ROOT

SPEC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = SPEC["stages"]
CODE = stage_code(ROOT)


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name):
    spec = STAGES[name].get("do", STAGES[name])  # a foreach stage's items share its definition
    listed = {dep for dep in spec["deps"] if dep.endswith(".py")}
    code = set(CODE[name])
    missing, extra = code - listed, listed - code
    assert not missing and not extra, f"{name}: add {sorted(missing)}, remove {sorted(extra)}: rlvr deps"


def test_dvc_yaml_is_as_rlvr_deps_writes_it():
    text = (ROOT / "dvc.yaml").read_text()
    assert with_code_deps(text, CODE) == text, "run `rlvr deps`"


def test_rlvr_deps_rewrites_only_the_code_lines_in_place():
    """A stale list (a module gone, one missing, out of order) is rewritten where it stood; the comments,
    data deps and every other line stay as written."""
    text = (ROOT / "dvc.yaml").read_text()
    stale = text.replace("      - tasks/fetch.py\n", "      - rlvr/gone.py\n", 1).replace(
        "      - rlvr/config/__init__.py\n", "", 1
    )
    assert stale != text
    assert with_code_deps(stale, CODE) == text
    lines = text.splitlines()
    kept = [line for line in lines if not line.strip().endswith(".py") or "- " not in line]
    rewritten = with_code_deps(text.replace("tasks/prepare.py", "tasks/fetch.py"), CODE)
    assert [line for line in rewritten.splitlines() if line in kept] == kept


def test_register_depends_on_neither_the_schedule_nor_the_logging():
    assert STAGES["register"]["params"] == [
        "data", "prepare", "format", "model", "lora", "sft", "select", "train", "evaluate", "registry",
        "distributed",
    ]  # fmt: skip


def test_no_training_stage_lists_the_logging_settings():
    """`tracking` says how often MLflow gets sample completions: it cannot change a model, so it is no
    param of a stage (a stage may read params it does not list only when they cannot change its outputs)."""
    for name, stage in STAGES.items():
        params = stage.get("do", stage)["params"]
        assert not [p for p in params if p == "tracking" or p.startswith("tracking.")], name


def test_the_models_and_arms_are_written_alike_wherever_dvc_yaml_names_them():
    """DVC has no loop over a stage's deps, so the report stage names each arm and each evaluated model:
    its command, its deps and the plots (of the arms' logs and learning curves) must name exactly the arms
    `vars.arms` defines (the train stage's `foreach`), and `vars.evaluated` (the evaluate stage's
    `foreach`) the base, SFT and those arms."""
    paths, evaluated = SPEC["vars"][0]["paths"], SPEC["vars"][2]["evaluated"]
    arms = set(SPEC["vars"][1]["arms"])
    assert evaluated == ["base", "sft", *SPEC["vars"][1]["arms"]]
    # evaluate@base's adapter dep is the base model's folder itself
    assert paths["base"] == f"{paths['models']}/base" and paths["sft"] == f"{paths['models']}/sft"
    report = STAGES["report"]
    words = report["cmd"].split()
    assert {words[i + 1] for i, word in enumerate(words) if word == "--arm"} == arms
    assert {dep.split("/")[-1] for dep in report["deps"] if dep.startswith("${paths.models}/")} == arms
    evaluations = [dep for dep in report["deps"] if dep.startswith("${paths.evaluations}/")]
    assert [dep.split("/")[-1] for dep in evaluations] == evaluated
    logs = [dep for dep in report["deps"] if dep.startswith("${paths.logs}/")]
    assert {Path(log).stem for log in logs} == arms
    plotted = {
        Path(log).stem.removeprefix("curve_") for plot in SPEC["plots"] if isinstance(plot, dict)
        for y in plot.values() if "y" in y for log in y["y"]
        if log.startswith("logs/") and Path(log).stem.removeprefix("curve_") != "sft"
    }  # fmt: skip
    assert plotted == arms


def test_retraining_grpo_decodes_no_other_model_again():
    """In DVC's graph: base and SFT are evaluated upstream of no GRPO arm, each arm downstream of its own
    training only; the report decodes nothing, and every evaluation comes before it."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        upstream = {stage.addressing: {s.addressing for s in nx.descendants(graph, stage)} for stage in graph}
    for model in ("base", "sft"):
        assert not {name for name in upstream[f"evaluate@{model}"] if name.startswith("train@")}
    for arm in SPEC["vars"][1]["arms"]:
        assert {name for name in upstream[f"evaluate@{arm}"] if name.startswith("train@")} == {f"train@{arm}"}
    assert {f"evaluate@{model}" for model in SPEC["vars"][2]["evaluated"]} <= upstream["report"]
    assert "report" in upstream["register"]


def test_rlvr_deps_rewrites_dvc_yaml_and_says_which_stages_changed(tmp_path):
    from typer.testing import CliRunner

    from rlvr.cli import app

    for package in ("rlvr", "tasks"):
        (tmp_path / package).symlink_to(ROOT / package)
    text = (ROOT / "dvc.yaml").read_text()
    (tmp_path / "dvc.yaml").write_text(text.replace("        - tasks/train.py\n", "", 1))
    result = CliRunner().invoke(app, ["deps", "--root", str(tmp_path)])
    assert result.exit_code == 0 and "code deps rewritten for train" in result.output
    assert (tmp_path / "dvc.yaml").read_text() == with_code_deps(text, CODE)
    result = CliRunner().invoke(app, ["deps", "--root", str(tmp_path)])
    assert result.exit_code == 0 and "dvc.yaml: code deps current" in result.output
    outside = CliRunner().invoke(app, ["deps", "--root", str(tmp_path / "rlvr" / "data")])
    assert outside.exit_code == 1 and "is not an rlvr project (no dvc.yaml)" in outside.output
