"""The package's layers: each folder imports only the layers below it (lazy imports inside functions
count), the graph has no cycle, the params schema imports no domain code, and the names params may use
are exactly those the domain modules implement."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from tests.conftest import ROOT

# Bottom to top. A module may import its own layer and the layers below, never one above.
LAYERS = [
    ("rlvr.errors", "rlvr.contracts", "rlvr.files", "rlvr.hashing", "rlvr.locks"),
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
    from rlvr.data.catalog import SOURCES
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
    assert tuple(SOURCES) == schema.DATA_SOURCES
    assert set(get_args(schema.SftData.model_fields["source"].annotation)) - {"train"} <= set(SOURCES)
    # each source has the params section of its name
    assert all(name in schema.DataParams.model_fields for name in schema.DATA_SOURCES)


def test_only_the_registries_choose_by_a_source_or_layout_name():
    """A data source or a benchmark layout is one entry of `rlvr.data.catalog.SOURCES` or
    `rlvr.data.suites.LAYOUTS`: no code compares a value with one of their names to choose what to do."""
    from rlvr.config import schema

    names = set(schema.DATA_SOURCES) | set(schema.SUITE_LAYOUTS)
    found = [
        f"{module}:{node.lineno}"
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops)
        and any(isinstance(e, ast.Constant) and e.value in names for e in [node.left, *node.comparators])
    ]
    assert not found, f"choose through rlvr.data.catalog.SOURCES or rlvr.data.suites.LAYOUTS: {found}"


# Reading or running a module's files instead of importing it: a library's file layout is no API.
SOURCE_READERS = {
    "spec_from_file_location", "exec_module", "submodule_search_locations", "__file__",  # any object's
    "ast.parse", "ast.literal_eval", "inspect.getsource", "inspect.getsourcefile",  # these modules'
    "inspect.getsourcelines", "inspect.findsource", "inspect.getfile",
}  # fmt: skip
RUNS_TEXT = {"eval", "exec", "compile"}  # builtins
READS_ITS_OWN = {
    "rlvr.mlops.codedeps": {"ast.parse"},  # rlvr's own modules, for dvc.yaml's code deps
    "rlvr.training.models": {"submodule_search_locations"},  # the embedded model's wheel: a GGUF file
}


def source_reads(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = f"{node.value.id}." if isinstance(node.value, ast.Name) else ""
            found |= {node.attr, owner + node.attr} & SOURCE_READERS
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {name for a in node.names for name in (a.name, f"{node.module}.{a.name}")} & (
                SOURCE_READERS | RUNS_TEXT
            )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RUNS_TEXT:
            found.add(node.func.id)
    return found


def test_the_source_reading_check_sees_what_it_looks_for():
    code = (
        "import ast, importlib.util, inspect, transformers\n"
        "ast.parse(open(transformers.__file__).read())\n"
        "importlib.util.spec_from_file_location('x', 'y')\n"
        "inspect.getsource(transformers)\n"
        "eval('1')\n"
        "model.eval(); re.compile('x'); inspect.signature(f); string.Formatter().parse('')\n"
    )
    assert source_reads(ast.parse(code)) == {
        "ast.parse", "__file__", "spec_from_file_location", "inspect.getsource", "eval"
    }  # fmt: skip


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("rlvr")))
def test_no_module_reads_another_library_s_files(module):
    """Other libraries are imported and asked what they accept (lazily where the import takes seconds:
    `rlvr.config.upstream`, `rlvr.data.gym`); their files are never parsed, read or run by path."""
    used = source_reads(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    used -= READS_ITS_OWN.get(module, set())
    assert not used, f"{module} uses {sorted(used)}: import the library instead (lazily if it is slow)"


@pytest.mark.parametrize("package", sorted(p for p in MODULES if MODULES[p].name == "__init__.py"))
def test_each_layer_says_what_it_owns_and_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc, f"{package}/__init__.py has no docstring"
    if package.startswith("rlvr."):
        assert "May import" in doc, f"{package}: say which layers it may import"


def test_the_grpo_trainer_is_one_class_written_out_not_composed_at_run_time():
    """Every GRPO run trains with `RlvrGRPOTrainer`, the one subclass of TRL's GRPOTrainer, defined in
    one file; no code builds a class with `type(name, bases, namespace)`, which would hide the class a
    run trains with from anyone reading the code."""
    files = [*MODULES.values(), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("tests/*.py")]
    composed, subclasses = [], []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type":
                if len(node.args) == 3:
                    composed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name | ast.Attribute) and ast.unparse(base).endswith("GRPOTrainer")
                for base in node.bases
            ):
                subclasses.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert not composed, f"classes composed at run time: {composed}"
    assert [s for s in subclasses if not s.startswith("tests/")] == [
        "rlvr/training/grpo_trainer.py:RlvrGRPOTrainer"
    ]
