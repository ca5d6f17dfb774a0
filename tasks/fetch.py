"""Stage `fetch`: the raw dataset snapshot named by the `data` params, written as JSONL, and the rows of
the benchmark suites `evaluate.suites` names (every download of the pipeline's data happens here)."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config.schema import HELDOUT, load_params
from rlvr.data.gym import check_mix, make_rows
from rlvr.data.problems import make_problems
from rlvr.data.sources import load_benchmark, load_hub, load_local
from rlvr.data.suites import LAYOUTS, benchmark_rows
from rlvr.files import write_jsonl
from tasks import PARAMS, stage


def main(
    out: Path = typer.Option(..., help="JSONL file to write."),
    suites: Path | None = typer.Option(None, help="JSONL file for the benchmark suites' rows."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    data = p.data
    if data.source == "builtin":
        b = data.builtin
        rows = make_problems(b.count, seed=b.seed, levels=b.levels, kinds=b.kinds)
    elif data.source == "hub":
        h = data.hub
        rows = load_hub(h.path, config=h.config, revision=h.revision, split=h.split, max_rows=h.max_rows)
    elif data.source == "reasoning_gym":
        g = data.reasoning_gym
        check_mix(g)
        rows = make_rows([(t.name, t.weight, t.config) for t in g.tasks], size=g.size, seed=g.seed)
    else:
        rows = load_local(data.local.path, data.local.columns.model_dump())
    write_jsonl(rows, out)
    print(f"fetch: {len(rows)} rows from the {data.source} source -> {out}")
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


if __name__ == "__main__":
    stage(main)
