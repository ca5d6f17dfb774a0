"""Facts about the DVC pipeline that the CLI and the Prefect flow read from `dvc.yaml` itself."""

from __future__ import annotations

from pathlib import Path

import yaml


def paths(root: Path = Path(".")) -> dict[str, Path]:
    """The named paths of `dvc.yaml`'s `vars` (the one place they are written), under `root`."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    return {name: root / value for name, value in spec["vars"][0]["paths"].items()}


def stage_order(root: Path = Path(".")) -> list[str]:
    """The stages of `dvc.yaml`, each after the stages it depends on (DVC's own graph), ties broken by
    their order in the file."""
    import networkx as nx
    from dvc.repo import Repo

    written = list(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])

    def key(stage) -> str:  # a `foreach` stage's items (`train@grpo`) keep their definition's place
        name, _, item = stage.name.partition("@")
        return f"{written.index(name):04d}{item}"

    with Repo(str(root)) as repo:
        # DVC's edges point from a stage to the stages it depends on; reversed, dependencies come first.
        graph = repo.index.graph.reverse()
        return [stage.name for stage in nx.lexicographical_topological_sort(graph, key=key)]


def out_of_date(root: Path = Path(".")) -> set[str]:
    """The stages `dvc status` finds out of date (changed code, params, data or missing outputs), all
    found by one DVC call rather than one `dvc repro` per stage."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        # DVC names them relative to the working directory (`../project/dvc.yaml:train@grpo`) when it
        # is not the project's root
        return {address.rsplit(":", 1)[-1] for address in repo.status()}
