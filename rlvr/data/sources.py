"""Loading raw rows (from the Hugging Face Hub, a local copy, or local files) and writing JSONL.

This is the I/O side of the fetch and prepare stages; what happens to the rows lives in `rlvr.data.prepare`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from rlvr.errors import DataError

COLUMNS = ("problem", "answer", "solution")
REQUIRED = ("problem", "answer")
SUFFIXES = (".jsonl", ".parquet")


def load_hub(
    path: str,
    config: str | None,
    revision: str | None,
    split: str,
    max_rows: int | None,
    columns: Mapping[str, str | None] | None = None,
) -> list[dict]:
    """The first `max_rows` rows (all when None) of a dataset, with only `problem`, `answer` and, when
    present, `solution`; `columns` names the dataset's column for each field when they differ (GSM8K's
    problem is its `question`).

    `path` is a Hub id such as "open-r1/OpenR1-Math-220k" (configs "default", "extended", "all"), or a
    local directory laid out like a Hub dataset repo, which `datasets` reads the same way. For a local
    directory `revision` is ignored (the directory is what gets read), and `config` must be None or
    "default" unless the directory holds the repo's README.md, whose `configs` section names the others.
    """
    columns = dict(columns or {field: field for field in COLUMNS})
    ds = datasets.load_dataset(path, name=config, revision=revision, split=split)
    missing = [columns[field] for field in REQUIRED if columns[field] not in ds.column_names]
    if missing:
        raise DataError(
            f"{path} (config {config}, split {split}) has no {missing} column: it has {ds.column_names}. "
            "Use a dataset with Open R1 Math's columns (problem, answer, optional solution), "
            "or convert it to JSONL with those keys and load it as a local file."
        )
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    wanted = [column for column in columns.values() if column is not None and column in ds.column_names]
    return [_fields(row, columns) for row in ds.select_columns(wanted).to_list()]


def load_benchmark(
    path: str,
    columns: Mapping[str, str | None],
    config: str | None,
    revision: str | None,
    split: str,
    max_rows: int | None,
) -> list[dict]:
    """A benchmark's rows under rlvr's field names: from a local .jsonl/.parquet file or folder of them
    when `path` exists (offline; `config`, `revision` and `split` do not apply), else from the Hub at
    `revision`. `columns` are the hub dataset's own (`rlvr.data.suites.LAYOUTS`)."""
    if Path(path).is_file() or (Path(path).is_dir() and not (Path(path) / "README.md").is_file()):
        rows = load_local(path, columns)
        return rows[:max_rows] if max_rows is not None else rows
    return load_hub(path, config=config, revision=revision, split=split, max_rows=max_rows, columns=columns)


def load_local(path: str, columns: Mapping[str, str | None]) -> list:
    """The rows of a .jsonl or .parquet file, or of every such file under a directory (in path order),
    with Open R1 Math's fields only: `columns` names the file's column for each field (`problem`,
    `answer`, `solution`; None: the files have no such column), so a Parquet file's other columns
    (timestamps, say) are never read.

    Checking the values is `data.clean_rows`'s job (a JSONL line may not even be an object, and is
    passed on as it is); but a file without a problem or answer column would lose every row there, so
    it is an error that names the columns the file has."""
    root = Path(path)
    if not root.exists():
        raise DataError(
            f"no such file or directory: {root}; set data.local.path to an existing file or folder"
        )
    if root.is_dir():
        files = sorted(file for file in root.rglob("*") if file.suffix in SUFFIXES)
        if not files:
            raise DataError(f"no {' or '.join(SUFFIXES)} files under {root}")
    elif root.suffix in SUFFIXES:
        files = [root]
    else:
        raise DataError(f"{root}: unknown file type {root.suffix!r}; accepted are {', '.join(SUFFIXES)}")
    rows: list = []
    for file in files:
        if file.suffix == ".jsonl":
            stored = read_jsonl(file)
            found = list(dict.fromkeys(key for row in stored if isinstance(row, dict) for key in row))
            _check_columns(file, found, columns)
            rows.extend(_fields(row, columns) if isinstance(row, dict) else row for row in stored)
        else:
            found = pq.read_schema(file).names
            _check_columns(file, found, columns)
            wanted = [column for column in columns.values() if column in found]
            rows.extend(_fields(row, columns) for row in pq.read_table(file, columns=wanted).to_pylist())
    return rows


def _check_columns(file: Path, found: list[str], columns: Mapping[str, str | None]) -> None:
    missing = [columns[field] for field in REQUIRED if columns[field] not in found]
    if found and missing:
        raise DataError(
            f"{file} has no {' or '.join(map(repr, missing))} column; its columns are {', '.join(found)}. "
            "Name the columns that hold each field in params.yaml: "
            "data.local.columns: {problem: <column>, answer: <column>, solution: <column or null>}"
        )


def _fields(row: dict, columns: Mapping[str, str | None]) -> dict:
    """The row's fields under their own names, from the columns that hold them."""
    return {field: row[column] for field, column in columns.items() if column is not None and column in row}


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


def write_jsonl(rows: Iterable[dict], path: str | Path) -> None:
    """Write rows as JSONL (UTF-8, not escaped) atomically: into a temporary file beside `path`, then
    renamed over it, so a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
