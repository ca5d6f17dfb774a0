"""The package's layers: each folder imports only the layers below it (lazy imports inside functions
count), the graph has no cycle, the params schema imports no domain code, and the names params may use
are exactly those the domain modules implement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Bottom to top. A module may import its own layer and the layers below, never one above.
LAYERS = [
    ("rlvr.errors", "rlvr.files", "rlvr.hashing", "rlvr.locks"),
    ("rlvr.config",),
    ("rlvr.data",),
    ("rlvr.verify",),
    ("rlvr.training",),
    ("rlvr.evaluation",),
    ("rlvr.mlops",),
    ("rlvr.serving",),
    ("rlvr.cli",),
    ("tasks",),
    ("flows",),
]


def layer_of(module: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def modules() -> dict[str, Path]:
    files = [*ROOT.glob("rlvr/**/*.py"), *ROOT.glob("tasks/*.py"), *ROOT.glob("flows/*.py")]
    return {
        ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f
        for f in files
        if "__pycache__" not in f.parts
    }


MODULES = modules()


def first_party_imports(path: Path) -> set[str]:
    """The first-party modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


GRAPH = {module: first_party_imports(path) - {module} for module, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_a_layer_above_its_own(module):
    upward = sorted(m for m in GRAPH[module] if layer_of(m) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports {upward}, which sit above it"


def test_the_import_graph_has_no_cycle():
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join((*path[path.index(module) :], module)))
        if module in done:
            return
        for imported in GRAPH[module]:
            visit(imported, (*path, module))
        done.add(module)

    for module in GRAPH:
        visit(module, ())


def closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += GRAPH[current]
    return seen


def test_the_params_schema_imports_no_domain_code():
    """Reading params must not pull in the problem generator, rewards, suites or reasoning-gym: editing
    them would make every stage stale (each stage depends on its whole import closure)."""
    assert closure("rlvr.config.schema") <= {
        "rlvr.config.schema",
        "rlvr.config.upstream",
        "rlvr.config.yamlfile",
        "rlvr.errors",
    }


def test_the_model_stage_reaches_no_data_rewards_or_suites():
    reached = closure("tasks.model")
    assert not {m for m in reached if m.startswith(("rlvr.data", "rlvr.verify", "rlvr.evaluation"))}


def test_the_names_params_use_are_the_ones_implemented():
    from rlvr.config import schema
    from rlvr.data.gym import SAFE_TASKS
    from rlvr.data.problems import MAKERS
    from rlvr.data.suites import LAYOUTS
    from rlvr.verify.rewards import REWARDS

    assert tuple(REWARDS) == schema.REWARD_NAMES
    assert tuple(MAKERS) == schema.PROBLEM_KINDS
    assert tuple(LAYOUTS) == schema.SUITE_LAYOUTS
    assert tuple(SAFE_TASKS) == schema.GYM_TASKS
    assert not set(schema.GYM_REFUSED) & set(SAFE_TASKS)
    assert {spec["layout"] for spec in schema.PINNED_SUITES.values()} <= set(LAYOUTS)


@pytest.mark.parametrize("package", sorted(p for p in MODULES if MODULES[p].name == "__init__.py"))
def test_each_layer_says_what_it_owns_and_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc, f"{package}/__init__.py has no docstring"
    if package.startswith("rlvr."):
        assert "May import" in doc, f"{package}: say which layers it may import"
