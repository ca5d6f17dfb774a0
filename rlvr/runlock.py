"""One pipeline run per project at a time.

`dvc repro` locks the repository only while one command runs, and the flow runs one command per stage,
so two flow runs could interleave their stages. The flow therefore holds a lock of its own for its whole
run and, before starting, checks that no other DVC command holds DVC's lock. Both are OS file locks
(zc.lockfile, as DVC uses): a killed process releases them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rlvr.errors import RlvrError


class PipelineBusy(RlvrError):
    """Another pipeline run, or another DVC command, is using the project."""


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
