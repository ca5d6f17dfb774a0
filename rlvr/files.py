"""The files stages hand to each other: their names, and how every one is written.

Every output is written whole or not at all (`replacing`): into a temporary sibling, renamed over its
destination once complete, so a crash, a kill or a full disk leaves the old output or the new one, never
half of one that a later stage would take for finished. A full disk is one line naming the path. JSON is
written strictly (no `Infinity` or `NaN`, which other JSON readers refuse).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rlvr.errors import DataError, RlvrError

# What the model stage writes beside the base model: where it came from (name, revision, dtype).
BASE_MANIFEST = "rlvr_base.json"
# What the sft and train stages write beside an adapter, or alone when the stage was skipped.
ADAPTER_MANIFEST = "rlvr_adapter.json"
# The prepare stage's two sets.
TRAIN_SET = "train.jsonl"
HELDOUT_SET = "heldout.jsonl"


class DiskFull(RlvrError):
    """No space left (or quota exceeded) where an output was being written; nothing was published."""


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write into (a file, or a folder the caller makes), published
    onto `path` when the block ends (`publish`), removed when it raises.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with replacing(folder / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['out.txt'])
    """
    tmp = partial(path)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def partial(path: Path) -> Path:
    """The temporary sibling an output of `path` is written into before `publish`, emptied."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    _remove(tmp)
    return tmp


def publish(tmp: Path, path: Path) -> None:
    """Move a finished file or folder onto `path`. A folder replaces the old one as a whole: the old one
    is moved aside first, so a crash between the two renames leaves the new folder or the old one, never
    a mix. A full disk is a DiskFull naming `path`, and the temporary copy is removed."""
    path = Path(path)
    try:
        if Path(tmp).is_dir() and path.is_dir():
            old = path.with_name(f".{path.name}.old")
            _remove(old)
            path.rename(old)
            Path(tmp).rename(path)
            _remove(old)
        else:
            if path.is_dir():
                shutil.rmtree(path)
            os.replace(tmp, path)
    except OSError as exc:
        _remove(Path(tmp))
        if full := disk_full(exc, path):
            raise full from None
        raise


def disk_full(exc: OSError, path: Path) -> DiskFull | None:
    """A DiskFull naming `path` when `exc` says the device is full (or the quota spent), else None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left on the device while writing {path}; free some space, then run again")
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8) whole or not at all."""
    with replacing(path) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if full := disk_full(exc, Path(path)):
                raise full from None
            raise


def to_json(data: object, indent: int | None = None) -> str:
    """JSON text as every reader takes it: a non-finite number is an error, not `Infinity`.

    >>> to_json({"accuracy": 0.5})
    '{"accuracy": 0.5}'
    >>> to_json({"accuracy": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant
    """
    return json.dumps(data, indent=indent, allow_nan=False, ensure_ascii=False)


def write_json(path: Path, data: object) -> None:
    """Write a JSON document (indented, strict) whole or not at all."""
    write_text(path, to_json(data, indent=2) + "\n")


def write_jsonl(rows: Iterable[dict], path: str | Path) -> None:
    """Write rows as JSON Lines (UTF-8, strict JSON) whole or not at all."""
    write_text(Path(path), "".join(to_json(row) + "\n" for row in rows))


def read_jsonl(path: str | Path) -> list:
    """The rows of a JSONL file, one per non-blank line; a line that is not UTF-8 or not JSON is an error
    that names the file and the line."""
    rows = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}, line {number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                    f"{err.start + 1}); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}, line {number}: not valid JSON ({err.msg})") from err
    return rows


def write_log(rows: list[dict], path: Path) -> None:
    """A stage's per-step log as one JSON list, a step per line: the format `dvc plots` reads (it
    refuses JSON Lines), and still diffable line by line."""
    body = ",\n".join(to_json(row) for row in rows)
    write_text(Path(path), f"[\n{body}\n]\n" if rows else "[]\n")


def read_log(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_json(path: Path, what: str) -> object:
    """A JSON file another stage wrote; one line naming it (and the stage to rerun: `what`) when it is
    missing or broken."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; run {what} first") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); run {what} again") from None
