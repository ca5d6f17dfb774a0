"""Loading raw rows (from the Hugging Face Hub, a local copy, or local files) and writing JSONL.

This is the I/O side of the fetch and prepare stages; what happens to the rows lives in `rlvr.data`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from rlvr.errors import DataError

COLUMNS = ("problem", "answer", "solution")
REQUIRED = ("problem", "answer")
SUFFIXES = (".jsonl", ".parquet")


def load_hub(
    path: str, config: str | None, revision: str | None, split: str, max_rows: int | None
) -> list[dict]:
    """The first `max_rows` rows (all when None) of a dataset, with only `problem`, `answer` and, when
    present, `solution`.

    `path` is a Hub id such as "open-r1/OpenR1-Math-220k" (configs "default", "extended", "all"), or a
    local directory laid out like a Hub dataset repo, which `datasets` reads the same way. For a local
    directory `revision` is ignored (the directory is what gets read), and `config` must be None or
    "default" unless the directory holds the repo's README.md, whose `configs` section names the others.
    """
    ds = datasets.load_dataset(path, name=config, revision=revision, split=split)
    missing = [column for column in REQUIRED if column not in ds.column_names]
    if missing:
        raise DataError(
            f"{path} (config {config}, split {split}) has no {missing} column: it has {ds.column_names}. "
            "Use a dataset with Open R1 Math's columns (problem, answer, optional solution), "
            "or convert it to JSONL with those keys and load it as a local file."
        )
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    return ds.select_columns([column for column in COLUMNS if column in ds.column_names]).to_list()


def load_local(path: str) -> list[dict]:
    """The rows of a .jsonl or .parquet file, or of every such file under a directory (in path order),
    as stored, with every column: checking them (a JSONL line may not even be an object) is
    `data.clean_rows`'s job."""
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
    rows: list[dict] = []
    for file in files:
        rows.extend(read_jsonl(file) if file.suffix == ".jsonl" else pq.read_table(file).to_pylist())
    return rows


def read_jsonl(path: str | Path) -> list[dict]:
    """The rows of a JSONL file, one per non-blank line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
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
