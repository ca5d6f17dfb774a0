"""The data sources params may name, by name, as `rlvr.verify.rewards.REWARDS` holds the rewards: each
entry of `SOURCES` says how the fetch stage makes the source's rows from its params section (`data.hub`
for `data.source: hub`), how a registered version's description and `rlvr check-params` name it, and what
only its own module can check before any stage runs (a reasoning-gym task's knobs).

Adding a source is a module that makes its rows, its params section in `rlvr.config.schema` (and its name
in `DATA_SOURCES`), and one entry here; nothing else chooses by the source's name. The benchmark suites'
column layouts are the same kind of table: `rlvr.data.suites.LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlvr.config.schema import (
    BuiltinSource,
    DataParams,
    HubSource,
    LocalSource,
    ReasoningGymSource,
    SftData,
)
from rlvr.data.gym import check_mix, make_rows
from rlvr.data.problems import make_problems
from rlvr.data.sources import hub_snapshot, load_local


@dataclass(frozen=True)
class Fetched:
    """A source's rows as fetched, where they came from (what the fetch report records beside the row
    count), and what the user should be told about them (None: nothing)."""

    rows: list
    origin: dict[str, object] = field(default_factory=dict)
    warning: str | None = None


@dataclass(frozen=True)
class Source:
    """A data source: `fetch(section, key)` its rows from its params section (`key` is that section's
    params path, for messages), `words(section, fetched)` what it is in a few words (`fetched`: the commit
    the fetch stage recorded, None before or without one), and `check(section)` what the schema cannot
    check (a one-line RlvrError)."""

    fetch: Callable[[Any, str], Fetched]
    words: Callable[[Any, str | None], str]
    check: Callable[[Any], None] = lambda section: None


def _builtin(b: BuiltinSource, key: str) -> Fetched:
    return Fetched(make_problems(b.count, seed=b.seed, levels=b.levels, kinds=b.kinds))


def _hub(h: HubSource, key: str) -> Fetched:
    """A hub source's rows, and the commit they were read at; an unpinned revision is a warning naming
    that commit, since `dvc repro` cannot tell when the dataset's `main` moves on."""
    rows, commit = hub_snapshot(
        h.path, config=h.config, revision=h.revision, split=h.split, max_rows=h.max_rows,
        columns=h.columns.model_dump(),
    )  # fmt: skip
    warning = None
    if h.revision is None and commit is not None:
        warning = (
            f"{key}.revision is not pinned: {h.path} was fetched at commit {commit} (the fetch report "
            f"records it), and `dvc repro` will not fetch again when the dataset changes; set "
            f"{key}.revision: {commit} to keep this snapshot"
        )
    return Fetched(rows, {"path": h.path, "requested_revision": h.revision, "revision": commit}, warning)


def _hub_words(h: HubSource, fetched: str | None) -> str:
    """The dataset at the revision params pin, else at the commit fetched (what `main` was then), else
    unpinned: before the fetch stage ran, or for a local copy, read as it is."""
    rows = f", at most {h.max_rows} rows" if h.max_rows else ""
    if at := h.revision or fetched:
        return f"{h.path}@{at} ({h.split}{rows})"
    return f"{h.path} ({h.split}{rows}; revision unpinned)"


def _local(source: LocalSource, key: str) -> Fetched:
    return Fetched(load_local(source.path, source.columns.model_dump()), {"path": source.path})


def _reasoning_gym(g: ReasoningGymSource, key: str) -> Fetched:
    check_mix(g)
    return Fetched(make_rows([(t.name, t.weight, t.config) for t in g.tasks], size=g.size, seed=g.seed))


SOURCES: dict[str, Source] = {
    "builtin": Source(
        _builtin,
        lambda b, _: f"{b.count} generated problems (levels {b.levels}, kinds {', '.join(b.kinds)})",
    ),
    "hub": Source(_hub, _hub_words),
    "local": Source(_local, lambda source, _: f"the local file {source.path}"),
    "reasoning_gym": Source(
        _reasoning_gym,
        lambda g, _: f"{g.size} reasoning-gym problems ({', '.join(t.name for t in g.tasks)}; seed {g.seed})",
        check_mix,
    ),
}


def chosen(data: DataParams | SftData) -> tuple[Source, Any]:
    """The source a data section names (`data.source`, `sft.data.source`) and its params section, the
    field of the same name (`data.hub` for `hub`)."""
    return SOURCES[data.source], getattr(data, data.source)


def fetch(data: DataParams | SftData, key: str) -> Fetched:
    """The rows of the source `data` names; `key` is `data`'s params path (`data`, `sft.data`)."""
    source, section = chosen(data)
    return source.fetch(section, f"{key}.{data.source}")


def describe(data: DataParams | SftData, fetched: str | None = None) -> str:
    """The source `data` names, in a few words (`the local file data/local`); `fetched` is the commit the
    fetch stage recorded for it (a hub dataset's), None before it ran."""
    source, section = chosen(data)
    return source.words(section, fetched)


def check(data: DataParams) -> None:
    """What only the sources' own modules check, for every section `data` holds, chosen or not: a bad
    section is refused before a profile or override switches to it."""
    for name, source in SOURCES.items():
        source.check(getattr(data, name))
