"""Loading raw rows: from the Hugging Face Hub, a local copy of a hub dataset, or local JSONL/Parquet files.

This is where outside data enters the pipeline (the fetch stage): a file that cannot be read is one line
naming it. What happens to the rows next lives in `rlvr.data.prepare`. `datasets` and pyarrow are imported
where rows are read (seconds): `rlvr check-params` names the sources (`rlvr.data.catalog`) without them.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rlvr.errors import DataError
from rlvr.files import read_jsonl

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
    """The first `max_rows` rows (all when None) of a dataset (`hub_snapshot`'s rows)."""
    return hub_snapshot(path, config, revision, split, max_rows, columns)[0]


def hub_snapshot(
    path: str,
    config: str | None,
    revision: str | None,
    split: str,
    max_rows: int | None,
    columns: Mapping[str, str | None] | None = None,
) -> tuple[list[dict], str | None]:
    """The first `max_rows` rows (all when None) of a dataset, with only `problem`, `answer` and, when
    present, `solution`, and the commit they were read at (None for a local directory); `columns` names
    the dataset's column for each field when they differ (GSM8K's problem is its `question`).

    The commit is the one `datasets` resolved `revision` to (`main` when None), or, offline, the one of
    the cached copy it read: what an unpinned revision actually fetched, to record.

    `path` is a Hub id such as "open-r1/OpenR1-Math-220k" (configs "default", "extended", "all"), or a
    local directory laid out like a Hub dataset repo, which `datasets` reads the same way. For a local
    directory `revision` is ignored (the directory is what gets read), and `config` must be None or
    "default" unless the directory holds the repo's README.md, whose `configs` section names the others.
    """
    import datasets

    columns = dict(columns or {field: field for field in COLUMNS})
    # A local folder is read into a cache of its own, dropped afterwards: `datasets` keys its shared
    # cache of a folder by names that do not change when the files do, and would serve the old rows. A hub
    # dataset's cache is keyed by its revision, so it is shared.
    local = Path(path).is_dir()
    with tempfile.TemporaryDirectory(prefix="rlvr-dataset-") as scratch:
        try:
            # load_dataset's own steps, keeping the builder: its hash is the commit it resolved
            builder = datasets.load_dataset_builder(
                path, name=config, revision=None if local else revision, cache_dir=scratch if local else None
            )
            builder.download_and_prepare()
            ds = builder.as_dataset(split=split)
        except (OSError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise DataError(
                f"cannot load dataset {path} (config {config}, revision {revision or 'main'}, split "
                f"{split}): {reason}. Check the id, the network (HF_HUB_OFFLINE), or point data.hub.path at "
                "a local copy"
            ) from None
        missing = [columns[field] for field in REQUIRED if columns[field] not in ds.column_names]
        if missing:
            raise DataError(
                f"{path} (config {config}, split {split}) has no {missing} column: it has {ds.column_names}. "
                "Name the columns that hold each field in params.yaml: "
                "data.hub.columns (sft.data.hub.columns for SFT's own data): "
                "{problem: <column>, answer: <column>, solution: <column or null>}"
            )
        if max_rows is not None:
            ds = ds.select(range(min(max_rows, len(ds))))
        wanted = [column for column in columns.values() if column is not None and column in ds.column_names]
        rows = [_fields(row, columns) for row in ds.select_columns(wanted).to_list()]
        return rows, None if local else builder.hash


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
    """The rows of a .jsonl or .parquet file, or of every such file under a directory (in path order;
    a linked file is read, a linked folder refused, as DVC hashes the one and not the other), with Open
    R1 Math's fields only: `columns` names the file's column for each field (`problem`,
    `answer`, `solution`; None: the files have no such column), so a Parquet file's other columns
    (timestamps, say) are never read.

    Checking the values is `data.clean_rows`'s job (a JSONL line may not even be an object, and is
    passed on as it is); but a file without a problem or answer column would lose every row there, so
    it is an error that names the columns the file has."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(path)
    if not root.exists():
        raise DataError(
            f"no such file or directory: {root}; set data.local.path to an existing file or folder"
        )
    if root.is_dir():
        entries = sorted(root.rglob("*"))
        if linked := next((entry for entry in entries if entry.is_symlink() and entry.is_dir()), None):
            raise DataError(
                f"{linked} is a link to a folder, which rlvr does not follow under a local data folder "
                f"(DVC does not hash what it holds, so edits there would not rerun fetch); copy its files "
                f"into {root}, or name the folder itself in data.local.path"
            )
        files = [file for file in entries if file.suffix in SUFFIXES]
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
            try:
                found = pq.read_schema(file).names
                _check_columns(file, found, columns)
                wanted = [column for column in columns.values() if column in found]
                table = pq.read_table(file, columns=wanted)
            except (pa.ArrowException, OSError) as exc:
                raise DataError(f"{file}: not a readable Parquet file ({exc}); check the file") from None
            rows.extend(_fields(row, columns) for row in table.to_pylist())
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
    """The row's fields under their own names, from the columns that hold them; a number JSON cannot
    hold (a huge answer read as infinity) becomes its text, which no gold check accepts.

    >>> _fields({"question": "?", "answer": float("inf")}, {"problem": "question", "answer": "answer"})
    {'problem': '?', 'answer': 'inf'}
    """
    return {
        field: _finite(row[column])
        for field, column in columns.items()
        if column is not None and column in row
    }


def _finite(value: object) -> object:
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value
