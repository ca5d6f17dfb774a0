"""`make showcase`: GRPO's gain over SFT on the embedded default, with an interval that excludes zero.

    python -m benchmarks.showcase [--work showcase --jobs 2]

One run of the embedded recipe cannot show the gain: the recipe gains about 3.5 points on average, while
one run's delta varies by about as much from one training seed to the next (docs/benchmarks.md,
"Replicated"). So the showcase runs the recipe (benchmarks/recipe.py, 15 GRPO steps from the SFT adapter)
seven times: GRPO seeds 0-4 on data seed 0, and data seeds 1 and 2, each with its own training problems,
SFT adapter and 300 held-out problems. It reports each run's paired delta and the t interval of their
mean. Every run uses one torch thread, so its numbers do not depend on --jobs, only its wall time does.
Finished runs stay in --work: run it again after an interruption and it goes on where it stopped.
`--eval-every 5` also scores every run after 5 and 10 steps, pooled the same way: the gain against steps
and minutes (about 100 minutes on 2 cores instead of about 75; docs/benchmarks.md has the run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from benchmarks.common import embedded_model
from rlvr.config.schema import SftParams
from rlvr.evaluation.stats import conclusion, points, replicate_interval

# The recipe of docs/benchmarks.md ("The embedded recipe", r3), less the sizes that are options here.
RECIPE = [
    "--start", "sft", "--lr", "5e-5", "--prompts", "4", "--group", "4", "--temperature", "0.8",
    "--rewards", "match_format_exactly,check_answer,accuracy", "--weights", "0.5,1,2",
    "--loss-type", "dr_grpo",
]  # fmt: skip
COLUMNS = ("data seed", "GRPO seed", "SFT", "GRPO", "paired delta [95% CI]", "McNemar p", "fixed / broken")
console = Console(width=None if sys.stdout.isatty() else 120)  # a log keeps the table's rows whole


def runs(seeds: list[int], data_seeds: list[int]) -> list[tuple[int, int]]:
    """(data seed, GRPO seed) pairs, ordered so that two lanes start on different data seeds: the second
    run of a data seed then finds its SFT adapter made, instead of waiting for it."""
    if not seeds:
        return [(d, 0) for d in data_seeds]
    first, *rest = seeds
    queue = [(0, first)]
    others = [(d, 0) for d in data_seeds]
    later = [(0, s) for s in rest]
    while others or later:
        queue += [q.pop(0) for q in (others, later) if q]
    return queue


def integers(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{option} takes comma-separated integers like 0,1,2, got {text!r}"
        ) from None


def main(
    work: Path = typer.Option(Path("showcase"), help="Where runs, logs and the summary go (kept)."),
    jobs: int = typer.Option(min(7, os.cpu_count() or 1), min=1, help="Runs at a time, one thread each."),
    seeds: str = typer.Option("0,1,2,3,4", help="GRPO seeds on data seed 0."),
    data_seeds: str = typer.Option("1,2", help="Other data seeds, one run each (GRPO seed 0)."),
    steps: int = typer.Option(15, min=1, help="GRPO steps per run."),
    heldout: int = typer.Option(300, min=1, help="Held-out problems per data seed."),
    tokens: int = typer.Option(48, min=1, help="Max completion tokens."),
    sft_steps: int = typer.Option(
        SftParams().max_steps, min=1, help="SFT steps of the adapter GRPO starts from."
    ),
    eval_every: int = typer.Option(0, min=0, help="Also evaluate every N steps: the gain against steps."),
) -> None:
    plan = runs(integers(seeds, "--seeds"), integers(data_seeds, "--data-seeds"))
    if len(plan) < 2 or len(set(plan)) < len(plan):
        raise typer.BadParameter(
            f"the showcase needs at least 2 distinct runs, got {plan}: give other --seeds or --data-seeds "
            "(data seed 0 is the one --seeds runs on)"
        )
    (work / "runs").mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    embedded_model()  # converted once here, not by several runs at the same time
    settings = [*RECIPE, "--steps", str(steps), "--heldout", str(heldout), "--tokens", str(tokens),
                "--sft-steps", str(sft_steps), "--eval-every", str(eval_every)]  # fmt: skip
    probes = list(range(eval_every, steps, eval_every)) if eval_every else []
    wanted = {"steps": steps, "tokens": tokens, "sft_steps": sft_steps, "heldout": heldout, "probes": probes}
    for d, s in plan:
        kept = run_file(work, d, s)
        if kept.is_file() and (found := settings_of(json.loads(kept.read_text()))) != wanted:
            raise typer.BadParameter(
                f"{kept} is a run with other settings ({found}, not {wanted}): give another --work, "
                "or delete that folder to start over"
            )
    started = time.perf_counter()
    console.print(f"{len(plan)} runs of the embedded recipe, {jobs} at a time, one torch thread each")
    with ThreadPoolExecutor(max_workers=jobs) as lanes:
        results = list(lanes.map(lambda run: one_run(work, settings, *run), plan))
    failed = [f"data seed {d}, seed {s}" for (d, s), r in zip(plan, results, strict=True) if r is None]
    if failed:
        console.print(
            f"[red]failed: {'; '.join(failed)}[/red] (logs in {work / 'logs'}); rerun to retry them"
        )
        raise typer.Exit(1)
    table = Table(title=f"GRPO ({steps} steps) against the SFT adapter it starts from, {heldout} held-out")
    for column in COLUMNS:
        table.add_column(column)
    for (d, s), r in zip(plan, results, strict=True):
        table.add_row(
            str(d), str(s), f"{100 * r['before']['accuracy']:.1f}%", f"{100 * r['after']['accuracy']:.1f}%",
            points(r["comparison"]), f"{r['comparison']['p_value']:.3f}", f"{r['fixed']} / {r['broken']}",
        )  # fmt: skip
    console.print(table)
    curve = [pool([r["curve"][i] for r in results]) for i in range(len(probes))]
    curve.append(pool(results))
    for point in curve:
        console.print(
            f"After {point['at_step']} steps ({point['minutes']:.1f} min of training): {point['verdict']}"
        )
    *_, final = curve
    elapsed = round((time.perf_counter() - started) / 60, 1)
    summary = {"steps": steps, "heldout": heldout, "runs": [{"data_seed": d, "seed": s} for d, s in plan],
               "deltas": final["deltas"], "pooled": final["pooled"], "verdict": final["verdict"],
               "curve": curve, "minutes_this_call": elapsed}  # fmt: skip
    partial = work / "showcase.json.partial"
    partial.write_text(json.dumps(summary, indent=2))
    partial.rename(work / "showcase.json")
    console.print(f"Summary: {work / 'showcase.json'}")
    console.print(f"Across {len(plan)} runs: {final['verdict']}")


def pool(records: list[dict]) -> dict:
    """The runs' paired deltas at one step, their t interval and mean minutes of training to get there."""
    deltas = [r["comparison"]["delta"] for r in records]
    try:
        pooled = replicate_interval(deltas, names=("sft", "grpo"))
    except ValueError as no_interval:  # every run moved alike (nothing at all, at tiny budgets)
        pooled, verdict = None, str(no_interval)
    else:
        verdict = f"{conclusion(pooled)} (t interval over the runs, p = {pooled['p_value']:.3f})"
    minutes = sum(r["minutes"] for r in records) / len(records)
    return {"at_step": records[0]["at_step"], "minutes": round(minutes, 2), "deltas": deltas,
            "pooled": pooled, "verdict": verdict}  # fmt: skip


def run_file(work: Path, data_seed: int, seed: int) -> Path:
    return work / "runs" / f"data{data_seed}-seed{seed}.json"


def settings_of(result: dict) -> dict:
    keys = ("steps", "tokens", "sft_steps")
    found = {k: result[k] for k in keys} | {"heldout": result["comparison"]["n"]}
    return found | {"probes": [point["at_step"] for point in result["curve"]]}


def one_run(work: Path, settings: list[str], data_seed: int, seed: int) -> dict | None:
    """One recipe run in its own process, or its result from an earlier showcase; None when it failed."""
    out = run_file(work, data_seed, seed)
    name = out.stem
    log = work / "logs" / f"{name}.log"
    if out.is_file():
        console.print(f"{name}: done earlier, kept")
        return json.loads(out.read_text())
    partial = out.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.recipe", *settings, "--seed", str(seed), "--data-seed",
               str(data_seed), "--work", str(work), "--out", str(partial), "--label", name]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        console.print(f"[red]{name}: failed (exit {done.returncode}), see {log}[/red]")
        return None
    partial.rename(out)
    result = json.loads(out.read_text())
    minutes = (time.perf_counter() - started) / 60
    console.print(f"{name}: {points(result['comparison'])} ({minutes:.1f} min)")
    return result


if __name__ == "__main__":
    typer.run(main)
