"""Stage `fetch`: the raw dataset snapshot named by the `data` params, written as JSONL, the SFT warm-up's
own worked solutions when `sft.data` names a source (an empty file when SFT learns from the training
rows), and the rows of the benchmark suites `evaluate.suites` names (every download of the pipeline's data
happens here).

The report says where each snapshot came from: a hub dataset's commit (what an unpinned revision
resolved to, with a warning, since `dvc repro` cannot tell when `main` moves on), a local source's path
(dvc.yaml makes its files dependencies of this stage, so editing them reruns it)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rlvr.config.schema import HELDOUT, DataParams, SftData, load_params
from rlvr.data import catalog
from rlvr.data.sources import load_benchmark
from rlvr.data.suites import LAYOUTS, benchmark_rows
from rlvr.files import write_fetch_report, write_jsonl
from tasks import PARAMS, stage


def main(
    out: Path = typer.Option(..., help="JSONL file to write."),
    suites: Path | None = typer.Option(None, help="JSONL file for the benchmark suites' rows."),
    sft: Path | None = typer.Option(None, help="JSONL file for the SFT warm-up's own rows (sft.data)."),
    report: Path | None = typer.Option(None, help="JSON file saying where each snapshot came from."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    data = p.data
    fetched = fetch(data, "data")
    write_jsonl(fetched.rows, out)
    print(f"fetch: {len(fetched.rows)} rows from the {data.source} source -> {out}")
    snapshots = {"data": {"source": data.source, "rows": len(fetched.rows), **fetched.origin}}
    if sft is not None:
        s = p.sft.data
        own = catalog.Fetched([])
        if s.source != "train":  # "train": SFT learns from the training rows, nothing to fetch
            own = fetch(s, "sft.data")
            print(f"fetch: sft.data: {len(own.rows)} rows from the {s.source} source -> {sft}")
        write_jsonl(own.rows, sft)
        snapshots["sft_data"] = {"source": s.source, "rows": len(own.rows), **own.origin}
    if report is not None:
        write_fetch_report(report, snapshots)
    if suites is None:
        return
    benchmark: list[dict] = []
    for name in (s for s in p.evaluate.suites if s != HELDOUT):
        b = p.evaluate.benchmarks[name]
        loaded = load_benchmark(
            b.path, LAYOUTS[b.layout].columns, b.config, b.revision, b.split, b.max_problems
        )
        benchmark += benchmark_rows(name, b.layout, loaded)
        print(f"fetch: benchmark {name}: {len(loaded)} rows from {b.path} (revision {b.revision})")
    write_jsonl(benchmark, suites)


def fetch(data: DataParams | SftData, key: str) -> catalog.Fetched:
    """The rows of the source `data` names (`rlvr.data.catalog.SOURCES`), its warning on stderr."""
    fetched = catalog.fetch(data, key)
    if fetched.warning is not None:
        print(f"warning: {fetched.warning}", file=sys.stderr, flush=True)
    return fetched


if __name__ == "__main__":
    stage(main)
