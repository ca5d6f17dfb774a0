"""One pipeline run per project at a time, and params.yaml never changed under a running stage.

DVC holds its repository lock while it plans and records, but releases it while a stage's command runs,
and the flow runs one `dvc repro` per stage, so two flow runs could interleave their stages. The flow
therefore holds a lock of its own for its whole run and, before starting, checks that no other DVC
command holds DVC's lock.

A second lock guards params.yaml itself: every stage process holds it for its whole run, and whatever
writes params.yaml (a profile, overrides, their restore) holds it while writing. Without it,
`rlvr use-profile` during a stage would make DVC record params the stage never used, and call the stage
up to date afterwards. All are OS file locks (zc.lockfile, as DVC uses): a killed process releases them.

Between two stages of one `dvc repro` neither lock is held (DVC lets its lock go while it starts the next
stage's process), so a profile written then would reach the later stages only. A stage that DVC runs
therefore checks, under the params lock, that the stages upstream of it ran on the params it reads now
(`upstream_params_unchanged`): one run, one set of params.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rlvr.errors import RlvrError

PARAMS_LOCK = ".dvc/tmp/rlvr-params.lock"


class PipelineBusy(RlvrError):
    """Another pipeline run, or another DVC command, is using the project."""


class ParamsBusy(RlvrError):
    """A stage is running on the project's params, or params.yaml is being written."""


class ParamsChangedMidRun(RlvrError):
    """params.yaml changed after a stage upstream ran: the outputs it hands on follow other values."""


@contextmanager
def params_lock(root: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the project's params lock, waiting up to `wait_s` for its holder to let it go: a writer of
    params.yaml gives up at once (a stage may hold it for hours); a stage waits out a writer. The
    processes a stage relaunches under `accelerate launch` run under their launcher's lock."""
    import zc.lockfile

    if "LOCAL_RANK" in os.environ:
        yield
        return
    path = root / PARAMS_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            lock = zc.lockfile.LockFile(str(path))
            break
        except zc.lockfile.LockError:
            if time.monotonic() >= deadline:
                raise ParamsBusy(
                    f"a stage is running in {root} or its params.yaml is being written (the process holds "
                    f"{PARAMS_LOCK}); wait for it to finish, then try again"
                ) from None
            time.sleep(0.2)
    try:
        yield
    finally:
        lock.close()


@contextmanager
def pipeline_lock(root: Path) -> Iterator[None]:
    import zc.lockfile
    from dvc.lock import LockError, make_lock

    tmp = root / ".dvc" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        own = zc.lockfile.LockFile(str(tmp / "rlvr-pipeline.lock"))
    except zc.lockfile.LockError:
        raise PipelineBusy(
            f"another rlvr pipeline run is using {root} (it holds .dvc/tmp/rlvr-pipeline.lock); "
            "wait for it to finish or cancel it in the Prefect UI"
        ) from None
    try:
        dvc_lock = make_lock(str(tmp / "lock"), tmp_dir=str(tmp))
        try:
            dvc_lock.lock()
        except LockError:
            raise PipelineBusy(
                f"another DVC command (a `dvc repro`?) holds the repository lock of {root} (.dvc/tmp/lock); "
                "wait for it to finish, then start the pipeline again"
            ) from None
        dvc_lock.unlock()
        yield
    finally:
        own.close()


def upstream_params_unchanged(root: Path) -> None:
    """Refuse to run the stage DVC is running (`DVC_STAGE`) when a stage upstream of it recorded other
    params values in dvc.lock than params.yaml holds now, as DVC's own status compares them: params.yaml
    changed between two stages of one run (a profile switched while `dvc repro` moved on), and this
    stage would work on outputs made with other values. A stage run by hand, outside DVC, is not
    checked; nor is an upstream stage that dvc.lock has no record of."""
    import networkx as nx
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    name = os.environ.get("DVC_STAGE")
    if not name:
        return
    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        stage = next(s for s in graph if s.addressing == name)
        for upstream in sorted(nx.descendants(graph, stage), key=lambda s: s.addressing):
            for dep in upstream.deps:
                if not isinstance(dep, ParamsDependency) or dep.hash_info.value is None:
                    continue
                changed = sorted(
                    key
                    for status in dep.workspace_status().values()
                    if isinstance(status, dict)
                    for key in status
                )
                if changed:
                    keys = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
                    raise ParamsChangedMidRun(
                        f"params.yaml changed after stage '{upstream.addressing}' ran (its values of {keys} "
                        "differ from dvc.lock; a profile switched during the run?), so "
                        f"'{name}' would work on outputs made with other values; run `dvc repro` again"
                    )
