"""The files stages hand to each other: their names, and how every one is written.

Every output is written whole or not at all (`replacing`): into a temporary sibling, renamed over its
destination once complete, so a crash, a kill or a full disk leaves the old output or the new one, never
half of one that a later stage would take for finished. A full or read-only disk is one line naming the
path. JSON is written strictly (no `Infinity` or `NaN`, which other JSON readers refuse).

Every file a stage reads from another goes through one door here (`read_json`, `read_jsonl` and the
readers of each kind built on them): its size and nesting bounded before it is parsed, its content
checked against its contract (`rlvr.contracts`), and anything malformed, cut short or of the wrong shape
one line naming the file, what is wrong, and the `dvc repro -f <stage>` that makes it again.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from rlvr.contracts import (
    AdapterManifest,
    ArmsReport,
    BaseManifest,
    Evaluation,
    FetchReport,
    ModelEvaluation,
    ProblemRow,
    RegistryRecord,
    TrainingLog,
)
from rlvr.errors import DataError, RlvrError

# What the model stage writes beside the base model: where it came from (name, revision, dtype).
BASE_MANIFEST = "rlvr_base.json"
# What the sft and train stages write beside an adapter, or alone when the stage was skipped.
ADAPTER_MANIFEST = "rlvr_adapter.json"
# The prepare stage's two sets.
TRAIN_SET = "train.jsonl"
HELDOUT_SET = "heldout.jsonl"
# An evaluate@<model> stage's folder: the held-out completions, the benchmarks' and the scores.
EVALUATED_PREDICTIONS = "predictions.jsonl"
EVALUATED_SUITES = "suites.jsonl"
EVALUATED_SCORES = "scores.json"


# Bounds checked before a file is parsed: a JSON document is read whole, a JSONL file a line at a time,
# and Python's parser recurses once per level of nesting (100,000 levels are a RecursionError).
MAX_JSON_BYTES = 256 * 1024**2
MAX_LINE_BYTES = 16 * 1024**2
MAX_DEPTH = 64


class DiskFull(RlvrError):
    """No space left (or quota exceeded) where an output was being written; nothing was published."""


class ReadOnly(RlvrError):
    """An output's place cannot be written (a read-only file system); nothing was published."""


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


@contextmanager
def together() -> Iterator[Callable[[Path], Path]]:
    """Outputs that appear together or not at all (a stage's several files): `output(path)` is the
    temporary sibling to write `path` into (a file, or a folder the caller makes); all are published
    when the block ends, all removed when it raises. A full or read-only disk names the output that was
    being written.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with together() as output:
    ...     write_text(output(folder / "a.txt"), "a")
    ...     write_text(output(folder / "b.txt"), "b")
    ...     sorted(p.name for p in folder.iterdir())
    ['.a.txt.partial', '.b.txt.partial']
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """
    staged: dict[Path, Path] = {}

    def output(path: Path) -> Path:
        staged[Path(path)] = partial(Path(path))
        return staged[Path(path)]

    try:
        yield output
    except BaseException as exc:
        for tmp in staged.values():
            _remove(tmp)
        if isinstance(exc, OSError) and staged and (failure := unwritable(exc, list(staged)[-1])):
            raise failure from None
        raise
    for path, tmp in staged.items():  # renames: they take no space, so a full disk cannot stop one halfway
        publish(tmp, path)


def partial(path: Path) -> Path:
    """The temporary sibling an output of `path` is written into before `publish`, emptied."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)
    except OSError as exc:
        if failure := unwritable(exc, path):
            raise failure from None
        raise
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
        if failure := unwritable(exc, path):
            raise failure from None
        raise


def disk_full(exc: OSError, path: Path) -> DiskFull | None:
    """A DiskFull naming `path` when `exc` says the device is full (or the quota spent), else None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left on the device while writing {path}; free some space, then run again")
    return None


def unwritable(exc: OSError, path: Path) -> RlvrError | None:
    """A DiskFull or a ReadOnly naming `path` when `exc` says it cannot be written, else None."""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ReadOnly(
            f"cannot write {path}: {os.strerror(exc.errno).lower()}; make it writable (or run where it "
            "is), then run again"
        )
    return disk_full(exc, path)


# How libraries that wrap the OS error say the same (SQLite through SQLAlchemy and MLflow, safetensors'
# Rust writer, torch's zip writer), when no OSError with its errno is left in the chain.
_FULL = re.compile(r"database or disk is full|No space left on device|StorageFull|Disk quota exceeded")
_READ_ONLY = re.compile(r"readonly database|Read-only file system")


def write_failure(exc: BaseException, writing: Path | None = None) -> RlvrError | None:
    """The one-line error for an exception that a full or read-only disk caused somewhere below (an
    OSError in its chain, or a library's message that says so), else None: the net under every stage
    and command, for writes that do not go through `replacing` (a trainer's checkpoints, MLflow's
    store). It names `writing` when the caller knows where it wrote (a download's message names the
    file it copied from), else what the error says."""
    chain, seen = [], exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for link in chain:
        if isinstance(link, OSError) and (
            found := unwritable(link, writing or Path(link.filename or "an output"))
        ):
            return found
    for line in (line for link in chain for line in str(link).splitlines()):  # the line that says so
        said = " ".join(line.split())[:200]
        if _FULL.search(line):
            where = f"while writing {writing}" if writing else f"({said})"
            return DiskFull(f"no space left on the device {where}; free some space, then run again")
        if _READ_ONLY.search(line):
            where = f" {writing}" if writing else ""
            return ReadOnly(f"cannot write{where}: read-only ({said}); make it writable, then run again")
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():  # unlinking nothing still fails on a read-only disk
        path.unlink()


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8) whole or not at all."""
    with replacing(path) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if failure := unwritable(exc, Path(path)):
                raise failure from None
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


def write_log(rows: list[dict], path: Path) -> None:
    """A stage's per-step log as one JSON list, a step per line: the format `dvc plots` reads (it
    refuses JSON Lines), and still diffable line by line."""
    body = ",\n".join(to_json(row) for row in rows)
    write_text(Path(path), f"[\n{body}\n]\n" if rows else "[]\n")


def remake(stage: str | None) -> str:
    """How to make a stage's output again, for the end of an error line."""
    return f"run `dvc repro -f {stage}`" if stage else "fix the file"


def _missing(path: Path, stage: str | None) -> DataError:
    return DataError(f"{path} does not exist" + (f"; run `dvc repro {stage}` first" if stage else ""))


def parse_json(text: str, where: str, fix: str) -> object:
    """Strict JSON (no `NaN`, no `Infinity`) nested at most MAX_DEPTH deep; a DataError `where: what;
    fix` otherwise. The nesting is counted before parsing, on the brackets outside strings.

    >>> parse_json('{"a": [1, 2]}', "x.json", "fix it")
    {'a': [1, 2]}
    >>> parse_json("[" * 100_000, "x.json", "fix it")
    Traceback (most recent call last):
    ...
    rlvr.errors.DataError: x.json: nested more than 64 deep; fix it
    """
    brackets = re.sub(r"[^\[\]{}]", "", re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"', "", text))
    if brackets and max(accumulate(1 if c in "[{" else -1 for c in brackets)) > MAX_DEPTH:
        raise DataError(f"{where}: nested more than {MAX_DEPTH} deep; {fix}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        cut = " (cut short?)" if at_end else ""
        raise DataError(f"{where}: not valid JSON{cut}: {exc}; {fix}") from None
    except ValueError as exc:
        raise DataError(f"{where}: not valid JSON: {exc}; {fix}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def checked(data: object, contract: type[BaseModel] | TypeAdapter, where: str, fix: str):
    """`data` validated by its contract (a pydantic model or TypeAdapter); its first problem as one line
    `where: field: what; fix`."""
    try:
        if isinstance(contract, TypeAdapter):
            return contract.validate_python(data)
        return contract.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        shown = f"{field}: " if field else ""
        raise DataError(f"{where}: {shown}{first['msg'].lower()}{more}; {fix}") from None


def _read_text(path: Path, stage: str | None, limit: int) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {size} bytes, more than the {limit} a stage reads; {remake(stage)}")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise _missing(path, stage) from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a file; {remake(stage)}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte at offset {exc.start}); {remake(stage)}") from None


def read_json(path: Path, stage: str | None, contract: type[BaseModel] | TypeAdapter | None = None):
    """A JSON file another stage (`stage`, as dvc.yaml names it) wrote, checked against its contract when
    given (the validated model is returned); one line naming it when it is missing, too big, not JSON,
    or of the wrong shape."""
    path = Path(path)
    data = parse_json(_read_text(path, stage, MAX_JSON_BYTES), str(path), remake(stage))
    return data if contract is None else checked(data, contract, str(path), remake(stage))


def read_jsonl(path: str | Path, stage: str | None = None, contract: type[BaseModel] | None = None) -> list:
    """The rows of a JSONL file, one per non-blank line, each checked against `contract` when given; a
    line that is too long, not UTF-8, not JSON or of the wrong shape is an error naming the file, the line
    and how to remake it (`stage`; a file no stage wrote, such as a local dataset, is to be fixed)."""
    rows = []
    fix = remake(stage)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; the error for a missing file comes first
    except FileNotFoundError:
        raise _missing(path, stage) from None
    with f:
        for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
            where = f"{path}, line {number}"
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{where}: longer than {MAX_LINE_BYTES} bytes; {fix}")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{where}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                    + (fix if stage else "save the file as UTF-8")
                ) from None
            if not line.strip():
                continue
            row = parse_json(line, where, fix)
            if contract is not None:
                checked(row, contract, where, fix)
            rows.append(row)
    return rows


def read_problems(path: Path, stage: str) -> list[dict]:
    """The rows of a prepared or selected set, each a `ProblemRow` (a row without its `answer` is an
    error naming the line, not a KeyError once training has started)."""
    return read_jsonl(path, stage, ProblemRow)


def write_problems(rows: Iterable[dict], path: Path) -> None:
    """Write a prepared or selected set, each row checked as a `ProblemRow` first."""
    rows = list(rows)
    for number, row in enumerate(rows, start=1):
        checked(row, ProblemRow, f"row {number} for {path}", "a bug in the stage writing it")
    write_jsonl(rows, path)


def read_log(path: Path, stage: str | None = None) -> list[dict]:
    """A training log (a JSON list, a step per object): checked as a `TrainingLog`, returned as read."""
    rows = read_json(path, stage)
    checked(rows, TrainingLog, str(path), remake(stage))
    return rows


def read_manifest(folder: Path, stage: str) -> AdapterManifest:
    """The `rlvr_adapter.json` the sft or train stage (`stage`) wrote into `folder`."""
    return read_json(Path(folder) / ADAPTER_MANIFEST, stage, AdapterManifest)


def write_manifest(folder: Path, manifest: AdapterManifest) -> None:
    """Write an adapter manifest into a folder being made (inside `replacing`)."""
    with open(Path(folder) / ADAPTER_MANIFEST, "w", encoding="utf-8") as f:
        f.write(manifest.to_json())


def read_model_evaluation(folder: Path, model: str) -> tuple[ModelEvaluation, list[dict]]:
    """What the `evaluate@<model>` stage wrote into `folder`: its scores, and every completion (the
    held-out ones, then the benchmarks', each of those with its `suite`)."""
    stage = f"evaluate@{model}"
    scores = read_json(Path(folder) / EVALUATED_SCORES, stage, ModelEvaluation)
    records = read_jsonl(Path(folder) / EVALUATED_PREDICTIONS, stage)
    return scores, records + read_jsonl(Path(folder) / EVALUATED_SUITES, stage)


def read_evaluation(path: Path) -> dict:
    """`metrics/eval.json` (or a suite's entry shaped like it), checked as an `Evaluation`, returned as
    read."""
    evaluation = read_json(path, "report")
    checked(evaluation, Evaluation, str(path), remake("report"))
    return evaluation


def read_arms_report(path: Path) -> dict:
    """`metrics/arms.json`, checked as an `ArmsReport`, returned as read."""
    report = read_json(path, "report")
    checked(report, ArmsReport, str(path), remake("report"))
    return report


def read_base_manifest(folder: Path) -> BaseManifest:
    """The `rlvr_base.json` the model stage wrote beside the base model."""
    return read_json(Path(folder) / BASE_MANIFEST, "model", BaseManifest)


def write_fetch_report(path: Path, report: dict) -> None:
    """Write `metrics/fetch.json`, checked as a `FetchReport` first."""
    checked(report, FetchReport, f"the fetch report for {path}", "a bug in the fetch stage")
    write_json(path, report)


def read_fetch_report(path: Path) -> FetchReport:
    """`metrics/fetch.json`: where each dataset the fetch stage wrote came from."""
    return read_json(path, "fetch", FetchReport)


def write_registry_record(path: Path, record: dict) -> None:
    """Write `metrics/registry.json`, checked as a `RegistryRecord` first."""
    checked(record, RegistryRecord, f"the registry record for {path}", "a bug in the register stage")
    write_json(path, record)


def read_registry_record(path: Path) -> RegistryRecord:
    """`metrics/registry.json`: the run the evaluation went into, and the version registered, if any."""
    return read_json(path, "register", RegistryRecord)
