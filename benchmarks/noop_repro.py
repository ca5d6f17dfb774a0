"""Time of a `dvc repro` that has nothing to do (every stage up to date), in the project root.

python -m benchmarks.noop_repro [--runs 3]      (after `make demo`)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import typer

from benchmarks.common import print_table
from rlvr.mlops.dvcfile import stage_order


def main(runs: int = typer.Option(3, help="Repetitions.")) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "dvc", "repro"], capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if result.returncode != 0 or "Running stage" in result.stdout:
            sys.exit("the pipeline is not up to date: run `make demo` (or `dvc repro`) first")
    print_table(
        f"No-op `dvc repro` ({len(stage_order())} stages, all up to date)",
        ["runs", "median s", "min s", "max s"],
        [[str(runs), f"{statistics.median(times):.2f}", f"{min(times):.2f}", f"{max(times):.2f}"]],
    )


if __name__ == "__main__":
    typer.run(main)
