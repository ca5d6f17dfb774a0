"""One pipeline run per project at a time, and params.yaml never changed under a running stage.

DVC holds its repository lock while it plans and records, but releases it while a stage's command runs,
and the flow runs one `dvc repro` per stage, so two flow runs could interleave their stages. The flow
therefore holds a lock of its own for its whole run and, before starting, checks that no other DVC
command holds DVC's lock.

A second lock guards params.yaml itself: every stage process holds it for its whole run, and whatever
writes params.yaml (a profile, overrides, their restore) holds it while writing. Without it,
`rlvr use-profile` during a stage would make DVC record params the stage never used, and call the stage
up to date afterwards. All are OS file locks (zc.lockfile, as DVC uses): a killed process releases them.
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
