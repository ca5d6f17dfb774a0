"""Stage `fetch`: the raw dataset snapshot named by the `data` params, written as JSONL."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config import load_params
from rlvr.problems import generate
from rlvr.sources import load_hub, load_local, write_jsonl
from tasks import PARAMS, stage


def main(out: Path = typer.Option(..., help="JSONL file to write."), params: Path = PARAMS) -> None:
    data = load_params(params).data
    if data.source == "builtin":
        b = data.builtin
        rows = generate(b.count, seed=b.seed, levels=b.levels, kinds=b.kinds)
    elif data.source == "hub":
        h = data.hub
        rows = load_hub(h.path, config=h.config, revision=h.revision, split=h.split, max_rows=h.max_rows)
    else:
        rows = load_local(data.local.path, data.local.columns.model_dump())
    write_jsonl(rows, out)
    print(f"fetch: {len(rows)} rows from the {data.source} source -> {out}")


if __name__ == "__main__":
    stage(main)
