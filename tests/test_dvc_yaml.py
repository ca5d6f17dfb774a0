"""dvc.yaml against the code: every stage depends on exactly the modules it runs, directly imported or not
(so editing one reruns what it can change, and nothing else), and the register stage not on the schedule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
FIRST_PARTY = ("rlvr", "tasks")


def module_file(module: str) -> Path | None:
    """The file of a first-party module or package, None for anything else."""
    parts = module.split(".")
    if parts[0] not in FIRST_PARTY:
        return None
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (ROOT / candidate).is_file():
            return candidate
    return None


def imports(path: Path) -> set[Path]:
    """The first-party files importing `path` runs: its imports at module level and inside functions (a
    lazy import runs too), and the `__init__.py` of every package on the way."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {file for name in names if (file := module_file(name)) is not None}
    return found | packages_of(path)


def packages_of(path: Path) -> set[Path]:
    """The `__init__.py` of every package above `path` (importing a module runs each of them)."""
    return {Path(*path.parts[:depth], "__init__.py") for depth in range(1, len(path.parts))} - {path}


def closure(entry: Path) -> set[str]:
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += imports(path)
    return {str(path) for path in seen}


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name):
    spec = STAGES[name].get("do", STAGES[name])  # a foreach stage's items share its definition
    module = spec["cmd"].split("python -m ", 1)[1].split()[0]
    code = {dep for dep in spec["deps"] if dep.endswith(".py")}
    if "rlvr" in spec["deps"]:  # the whole package (the register stage ships it with every version)
        code |= {str(path.relative_to(ROOT)) for path in (ROOT / "rlvr").rglob("*.py")}
        code -= {dep for dep in code if dep.startswith("rlvr/") and dep not in closure(module_file(module))}
    missing, extra = closure(module_file(module)) - code, code - closure(module_file(module))
    assert not missing and not extra, f"stage {name}: add {sorted(missing)}, remove {sorted(extra)}"


def test_register_does_not_depend_on_the_schedule():
    assert STAGES["register"]["params"] == [
        "data", "prepare", "format", "model", "lora", "sft", "select", "train", "evaluate", "registry",
        "distributed", "tracking",
    ]  # fmt: skip


def test_the_arms_are_written_alike_wherever_dvc_yaml_names_them():
    """DVC has no loop over a stage's deps, so the evaluate stage names each arm: its command, its deps and
    the plots must name exactly the arms `vars.arms` defines (the train stage's `foreach`)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    arms = set(spec["vars"][1]["arms"])
    evaluate = STAGES["evaluate"]
    words = evaluate["cmd"].split()
    assert {words[i + 1] for i, word in enumerate(words) if word == "--arm"} == arms
    assert {dep.split("/")[-1] for dep in evaluate["deps"] if dep.startswith("${paths.models}/")} == arms
    logs = [dep for dep in evaluate["deps"] if dep.startswith("${paths.logs}/")]
    assert {Path(log).stem for log in logs} == arms
    plotted = {
        Path(log).stem for plot in spec["plots"] if isinstance(plot, dict) for y in plot.values() if "y" in y
        for log in y["y"] if log.startswith("logs/") and Path(log).stem != "sft"
    }  # fmt: skip
    assert plotted == arms
