"""The code each DVC stage depends on, derived from its imports and written into `dvc.yaml` (`rlvr deps`).

A stage's code deps are the import closure of the module its command runs (`python -m tasks.<stage>`):
every first-party file it imports, at module level or inside a function (a lazy import runs too), and the
`__init__.py` of every package on the way. Listed so, editing a module reruns exactly the stages that run
it. A stage that depends on the whole `rlvr` folder (the register stage, which ships the package with
every version) lists only its files outside it. The rest of `dvc.yaml` (data deps, comments, order) is
left as it is: only the `.py` lines of each `deps:` block are rewritten, sorted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from rlvr.files import write_text

FIRST_PARTY = ("rlvr", "tasks")
PACKAGE = "rlvr"  # a stage may depend on it whole, as a folder
CODE_LINE = re.compile(r"^\s*- [\w./-]+\.py\s*$")


def module_file(root: Path, module: str) -> Path | None:
    """The file (relative to `root`) of a first-party module or package, None for anything else."""
    parts = module.split(".")
    if parts[0] not in FIRST_PARTY:
        return None
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (root / candidate).is_file():
            return candidate
    return None


def _packages_of(path: Path) -> set[Path]:
    """The `__init__.py` of every package above `path` (importing a module runs each of them)."""
    return {Path(*path.parts[:depth], "__init__.py") for depth in range(1, len(path.parts))} - {path}


def _imports(root: Path, path: Path) -> set[Path]:
    """The first-party files importing `path` runs directly."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse((root / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {file for name in names if (file := module_file(root, name)) is not None}
    return found | _packages_of(path)


def closure(root: Path, module: str) -> set[str]:
    """Every first-party file running `python -m <module>` imports, directly or not, itself included."""
    seen: set[Path] = set()
    todo = [module_file(root, module)]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += _imports(root, path)
    return {path.as_posix() for path in seen}


def stage_code(root: Path) -> dict[str, list[str]]:
    """The `.py` deps each stage of `root/dvc.yaml` should list, sorted: its command's import closure (but
    what lies in the `rlvr` folder, for a stage that depends on that folder whole)."""
    code = {}
    for name, spec in yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"].items():
        spec = spec.get("do", spec)  # a foreach stage's items share its definition
        module = spec["cmd"].split("python -m ", 1)[1].split()[0]
        files = closure(root, module)
        if PACKAGE in spec["deps"]:
            files = {file for file in files if not file.startswith(f"{PACKAGE}/")}
        code[name] = sorted(files)
    return code


def with_code_deps(text: str, code: dict[str, list[str]]) -> str:
    """`dvc.yaml`'s text with each stage's `.py` deps replaced by `code[stage]`, where the first of them
    stood (after its other deps when it listed none); every other line kept as written."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stage = block = None  # the stage being read, and the indent of its `deps:` key while inside it
    pending: list[str] = []  # the code lines still to write in this block

    def flush() -> None:
        out.extend(f"{item_indent}- {file}\n" for file in pending)
        pending.clear()

    in_stages = False
    item_indent = ""
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block is not None and stripped and not stripped.startswith("#") and indent <= block:
            flush()  # the block ended without a code line: the code goes after its other deps
            block = None
        if not line.startswith(" ") and stripped and not stripped.startswith("#"):
            in_stages = stripped == "stages:"
        elif in_stages and indent == 2 and stripped.endswith(":") and not stripped.startswith("#"):
            stage = stripped[:-1]
        if in_stages and stage in code and stripped == "deps:":
            block, item_indent = indent, " " * (indent + 2)
            pending[:] = code[stage]
            out.append(line)
            continue
        if block is not None and CODE_LINE.match(line):
            flush()  # the first code line: every one goes here, the others are dropped
            continue
        out.append(line)
    if block is not None:
        flush()
    return "".join(out)


def write_code_deps(root: Path) -> list[str]:
    """Rewrite `root/dvc.yaml`'s code deps from the imports; the stages whose list changed."""
    path = root / "dvc.yaml"
    text = path.read_text(encoding="utf-8")
    code = stage_code(root)
    new = with_code_deps(text, code)
    if new != text:
        write_text(path, new)
    before = yaml.safe_load(text)["stages"]
    return [name for name in code if _listed(before[name]) != code[name]]


def _listed(spec: dict) -> list[str]:
    return sorted(dep for dep in spec.get("do", spec)["deps"] if dep.endswith(".py"))
