"""Facts about the DVC pipeline that the CLI and the Prefect flow read from `dvc.yaml` itself."""

from __future__ import annotations

from pathlib import Path

import yaml

from rlvr.errors import DataError


def paths(root: Path = Path(".")) -> dict[str, Path]:
    """The named paths of `dvc.yaml`'s `vars` (the one place they are written), under `root`; outside a
    project, one line saying so."""
    if not (root / "dvc.yaml").is_file():
        raise DataError(
            f"{root.resolve()} is not an rlvr project (no dvc.yaml); run in the project or pass --root"
        )
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    return {name: root / value for name, value in spec["vars"][0]["paths"].items()}


def stage_order(root: Path = Path(".")) -> list[str]:
    """The stages of `dvc.yaml`, each after the stages it depends on (DVC's own graph), ties broken by
    their order in the file (a `foreach` stage's items, `evaluate@base`, in the order of its list)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        written = {stage: place for place, stage in enumerate(repo.index.stages)}
        # DVC's edges point from a stage to the stages it depends on; reversed, dependencies come first.
        graph = repo.index.graph.reverse()
        order = nx.lexicographical_topological_sort(graph, key=lambda stage: f"{written[stage]:04d}")
        return [stage.name for stage in order]


def up_to_date(root: Path, stage: str) -> bool:
    """Whether DVC's status finds `stage` up to date: its code, params and data deps as dvc.lock recorded
    them, and its outputs there. Asked of DVC itself, not read from its log."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:  # DVC reads a bare stage name against the working directory
        return not repo.status(targets=[f"{Path(root).resolve() / 'dvc.yaml'}:{stage}"])
