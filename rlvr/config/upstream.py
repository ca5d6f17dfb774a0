"""The names other libraries accept in params, read from their installed files without importing them:
transformers' learning-rate schedulers and optimizers, and the cron grammar of Prefect's schedules.

Importing transformers' trainer modules imports torch, and importing Prefect runs its start-up: seconds
that every stage and `rlvr check-params` would pay just to validate three strings.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path


@functools.cache
def transformers_names(module: str, enum: str) -> tuple[str, ...]:
    """The values of one of transformers' string enums (`SchedulerType`, `OptimizerNames`), read from the
    class body in its source."""
    source = _package_folder("transformers") / f"{module}.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    body = next(node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == enum)
    return tuple(
        node.value.value
        for node in body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def is_prefect_cron(cron: str) -> bool:
    """Whether Prefect's schedules read this cron expression: the croniter Prefect vendors decides.

    >>> is_prefect_cron("0 3 * * *"), is_prefect_cron("every night")
    (True, False)
    """
    return _prefect_croniter().is_valid(cron)


@functools.cache
def _prefect_croniter():
    """The croniter module file Prefect ships (an installed package's file, loaded as a module: importing
    it by name would import `prefect` first)."""
    path = _package_folder("prefect") / "_vendor" / "croniter" / "croniter.py"
    spec = importlib.util.spec_from_file_location("rlvr_prefect_croniter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.croniter


def _package_folder(name: str) -> Path:
    return Path(next(iter(importlib.util.find_spec(name).submodule_search_locations)))
