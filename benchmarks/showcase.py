"""`make showcase`: the pipeline's own stages replicated over data seeds, as DVC experiments, pooled.

    python -m benchmarks.showcase [--data-seeds 101,102,103,104,105] [--grpo-seeds 0] [--set train.x=y ...]
        [--jobs 2] [--no-more-sft]

The unit of replication is a data seed: its own generated problems, hence its own training set, SFT
adapter and held-out set. Each (data seed, GRPO seed) is one `dvc exp run --queue` of this project's
`dvc.yaml` with `-S data.builtin.seed=K -S train.seed=S -S registry.register_versions=false` (plus the
`--set` overrides: a recipe under study), run by `dvc queue start --jobs J`, and read back with
`dvc exp show --json`: no second pipeline. The experiments are tracked in MLflow as runs a person can
compare (the parent run of each is named after the experiment) and register no version.

What it reports, and which is which:
- per data seed, the paired SFT -> GRPO delta on its held-out problems (the mean over its GRPO seeds
  when there are several, whose spread is reported apart, as seed noise);
- the pooled verdict: the mean of the data seeds' deltas with a Student t interval over data seeds
  (`replicate_interval`), the one that accounts for how much a new training set moves the result;
- the problem-level pooled estimate (every held-out problem of every data seed as one paired sample,
  bootstrap interval), which ignores that variation and is narrower: shown for reference only;
- unless `--no-more-sft`, GRPO against SFT given the same extra minutes: per data seed one more experiment,
  `<prefix>-d<K>-sft`, whose SFT runs as many more steps as the GRPO arm (and the select stage) took
  minutes, by the rate its own data seed's SFT ran at; its SFT adapter is scored against the GRPO arm on
  the same held-out problems (paired, read from both experiments' predictions), and pooled over data
  seeds the same way. Its own GRPO arm is cut to one step and not read.

Experiments already finished with the same settings are reused, so an interrupted showcase resumes. The
summary goes to `--out` (JSON).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from statistics import mean, pstdev

import typer
import yaml
from rich.console import Console
from rich.table import Table

from rlvr.config.schema import load_params
from rlvr.evaluation.stats import conclusion, paired_comparison, points, pooled_problems, replicate_interval
from rlvr.mlops.runs import experiment_id
from rlvr.mlops.store import client
from rlvr.training.hardware import speed_flags

console = Console(width=None if sys.stdout.isatty() else 130)
SEED_KEYS = {"builtin": "data.builtin.seed", "reasoning_gym": "data.reasoning_gym.seed"}


def integers(text: str, option: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{option} takes comma-separated integers like 101,102, got {text!r}"
        ) from None
    if len(set(values)) != len(values):
        raise typer.BadParameter(f"{option}: each seed once, got {values}")
    return values


def experiment_name(prefix: str, data_seed: int, grpo_seed: int) -> str:
    """The DVC experiment of one replicate.

    >>> experiment_name("sc", 101, 0)
    'sc-d101-g0'
    """
    return f"{prefix}-d{data_seed}-g{grpo_seed}"


def overrides(seed_key: str, data_seed: int, grpo_seed: int, extra: list[str]) -> list[str]:
    """The `-S` overrides of one replicate: its seeds, no registration, and the recipe's own.

    >>> overrides("data.builtin.seed", 101, 0, ["train.max_steps=20"])
    ['data.builtin.seed=101', 'train.seed=0', 'registry.register_versions=false', 'train.max_steps=20']
    """
    return [f"{seed_key}={data_seed}", f"train.seed={grpo_seed}", "registry.register_versions=false", *extra]


def more_sft_overrides(seed_key: str, data_seed: int, recipe: list[str], sft_steps: int) -> list[str]:
    """The `-S` overrides of a data seed's SFT-for-longer experiment: the recipe's settings but GRPO's and
    selection's (that experiment's GRPO arm is not read), SFT given `sft_steps`.

    >>> more_sft_overrides("data.builtin.seed", 11, ["sft.max_examples=32", "train.max_steps=20"], 90)
    ['data.builtin.seed=11', 'registry.register_versions=false', 'sft.max_examples=32', 'sft.max_steps=90', \
'train.max_steps=1', 'select.enabled=false', 'train.dynamic_sampling=false', 'train.base_arm=false']
    """
    kept = [o for o in recipe if not o.startswith(("train.", "select.", "sft.max_steps="))]
    return [f"{seed_key}={data_seed}", "registry.register_versions=false", *kept,
            f"sft.max_steps={sft_steps}", "train.max_steps=1", "select.enabled=false",
            "train.dynamic_sampling=false", "train.base_arm=false"]  # fmt: skip


def matched_sft_steps(sft_steps: int, sft_s: float, extra_s: float) -> int:
    """SFT's steps stretched over its own time plus what RFT took on top (GRPO, selection), at the rate SFT
    ran at in the same experiment.

    >>> matched_sft_steps(30, 300.0, 750.0)
    105
    """
    return round(sft_steps * (sft_s + extra_s) / sft_s)


def dvc(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise SystemExit(f"dvc {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[-2000:]}")
    return result


def finished_experiments(baseline: str) -> dict[str, dict]:
    """Each named experiment made from the commit `baseline` that finished: its params and metrics, as
    `dvc exp show` reads them. The commit is named, not taken as HEAD: a commit made while the experiments
    run must not hide them."""
    shown = json.loads(dvc("exp", "show", "--json", "--no-fetch", "--rev", baseline).stdout or "[]")
    listed = dvc("exp", "list", "--name-only", "--rev", baseline).stdout.split()
    return finished(shown, set(listed))


def finished(shown: list[dict], listed: set[str]) -> dict[str, dict]:
    """The experiments of `dvc exp show --json`'s output that finished, by name: those `dvc exp list`
    names (it lists an experiment once its run is committed). `exp show` also shows one still queued,
    running, or killed with its machine, with the params it was given and whatever metrics it has.

    >>> finished([{"experiments": [
    ...     {"name": "a", "revs": [{"rev": "c0ffee", "name": "a", "error": None, "data": {"rev": "c0ffee"}}]},
    ...     {"name": "b", "revs": [{"rev": "beef", "name": "b", "error": None, "data": {"rev": "beef"}}]},
    ...     {"name": "c", "revs": [{"rev": "f0", "name": "c", "error": None, "data": {"rev": "workspace"}}]},
    ... ]}], {"a"})
    {'a': {'rev': 'c0ffee'}}
    """
    found: dict[str, dict] = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for revision in experiment.get("revs") or []:
                data = revision.get("data") or {}
                name = revision.get("name") or experiment.get("name")
                if name in listed and data and not revision.get("error"):
                    found[name] = data | {"rev": revision["rev"]}
    return found


def value(data: dict, kind: str, file: str) -> dict:
    """One params or metrics file's content in an experiment of `dvc exp show --json`."""
    return (data.get(kind) or {}).get(file, {}).get("data") or {}


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, item in tree.items():
        out.update(flat(item, f"{prefix}{key}.") if isinstance(item, dict) else {f"{prefix}{key}": item})
    return out


def same_settings(data: dict, wanted: list[str]) -> bool:
    """Whether a kept experiment ran with these `key=value` overrides (read as YAML, as DVC reads them)."""
    params = flat(value(data, "params", "params.yaml"))
    return all(params.get(key) == yaml.safe_load(text) for key, _, text in (o.partition("=") for o in wanted))


def committed(rev: str, path: str) -> dict:
    """A metrics file as the experiment's commit holds it (`cache: false` metrics are committed; `dvc exp
    show` keeps only their numbers, not the comparisons' list)."""
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


def result_of(data: dict) -> dict:
    """SFT -> GRPO on the experiment's held-out problems, and what its arms and selection spent."""
    metrics = committed(data["rev"], "metrics/eval.json")
    comparison = next(c for c in metrics["comparisons"] if c["from"] == "sft" and c["to"] == "grpo")
    arms = committed(data["rev"], "metrics/arms.json").get("arms") or {}
    grpo, sft = arms.get("grpo", {}), arms.get("sft", {})
    return {
        "sft": metrics["sft"]["accuracy"],
        "grpo": metrics["grpo"]["accuracy"],
        "comparison": comparison,
        "tied": grpo.get("tied"),
        "grpo_minutes": grpo["spent"]["wall_s"] / 60,
        "select_minutes": committed(data["rev"], "metrics/selection.json").get("wall_s", 0) / 60,
        "sft_steps": sft["spent"]["steps"],
        "sft_minutes": sft["spent"]["wall_s"] / 60,
        "rev": data["rev"],
    }


def held_out(rev: str, model: str) -> dict[str, bool]:
    """Whether each held-out problem was answered right by one model of an experiment, by problem id, from
    the evaluate stage's predictions (a DVC output, read from the cache at the experiment's commit)."""
    import dvc.api

    with dvc.api.open("eval/predictions.jsonl", rev=rev) as lines:
        rows = [json.loads(line) for line in lines]
    return {row["id"]: bool(row["correct"]) for row in rows if row["model"] == model}


def against_more_sft(grpo_rev: str, more_sft_rev: str, seed: int) -> dict:
    """The GRPO arm against SFT-for-longer on the same held-out problems, paired by problem id."""
    grpo, longer = held_out(grpo_rev, "grpo"), held_out(more_sft_rev, "sft")
    if set(grpo) != set(longer):
        raise SystemExit(
            f"data seed {seed}: the SFT-for-longer experiment was scored on other held-out problems than "
            "its GRPO arm; remove it (`dvc exp remove`) and rerun"
        )
    ids = sorted(grpo)
    return paired_comparison([longer[i] for i in ids], [grpo[i] for i in ids], names=("more_sft", "grpo"))


def main(
    data_seeds: str = typer.Option("101,102,103,104,105", help="Data seeds, one replicate each."),
    grpo_seeds: str = typer.Option("0", help="GRPO seeds per data seed (seed noise, reported apart)."),
    set_params: list[str] = typer.Option([], "--set", help="A params override of the recipe, key=value."),
    jobs: int = typer.Option(2, min=1, help="Experiments at a time (each gets cores / jobs threads)."),
    prefix: str = typer.Option("showcase", help="Experiment names: <prefix>-d<data seed>-g<GRPO seed>."),
    out: Path = typer.Option(Path(f"docs/results/showcase-{date.today()}.json"), help="The summary (JSON)."),
    more_sft: bool = typer.Option(
        True, help="Also per data seed: SFT given GRPO's extra minutes, paired against the GRPO arm."
    ),
) -> None:
    data_list, grpo_list = integers(data_seeds, "--data-seeds"), integers(grpo_seeds, "--grpo-seeds")
    if len(data_list) < 2:
        raise typer.BadParameter("--data-seeds: a pooled interval needs at least 2 data seeds")
    if not grpo_list:
        raise typer.BadParameter("--grpo-seeds: give at least one GRPO seed")
    params = load_params("params.yaml")
    source = params.data.source
    if source not in SEED_KEYS:
        raise typer.BadParameter(
            f"data.source is {source!r}: data seeds need a generated source ({', '.join(SEED_KEYS)})"
        )
    if bad := [o for o in set_params if "=" not in o]:
        raise typer.BadParameter(f"--set takes key=value, got {bad}")
    sft_steps = next((o.partition("=")[2] for o in set_params if o.startswith("sft.max_steps=")), None)
    if more_sft and (params.sft.max_steps if sft_steps is None else yaml.safe_load(sft_steps)) == 0:
        raise typer.BadParameter("the recipe skips SFT (sft.max_steps 0): add --no-more-sft")
    plan = {
        experiment_name(prefix, d, g): (d, g, overrides(SEED_KEYS[source], d, g, set_params))
        for d in data_list
        for g in grpo_list
    }
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = os.environ | {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    if "MLFLOW_TRACKING_URI" not in env:  # experiments run in temporary copies: one store for all
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path('mlflow.db').resolve()}"
    started = time.perf_counter()
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    experiment_id(client())  # the store's tables made once here, not by two experiments at once
    baseline = subprocess.run(  # the commit the experiments are made from, even if HEAD moves meanwhile
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wanted = {name: settings for name, (_, _, settings) in plan.items()}
    done = run_experiments(wanted, baseline, jobs, threads, env)
    results = {
        name: result_of(done[name]) | {"data_seed": d, "grpo_seed": g} for name, (d, g, _) in plan.items()
    }
    summary = pooled(results, set_params)
    if more_sft:
        seed_key = SEED_KEYS[source]
        summary |= against_longer_sft(results, seed_key, set_params, prefix, baseline, jobs, threads, env)
    summary["minutes_this_call"] = round((time.perf_counter() - started) / 60, 1)
    summary["made_by"] = {  # what a reader needs to rerun it
        "command": " ".join(["python -m benchmarks.showcase", *sys.argv[1:]]),
        "commit": baseline,
        "date": str(date.today()),
        "machine": f"{os.cpu_count()} cores, CPU flags: {speed_flags()}",
    }
    show(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"Summary: {out}")


def run_experiments(
    plan: dict[str, list[str]], baseline: str, jobs: int, threads: str, env: dict
) -> dict[str, dict]:
    """Each experiment of `plan` (name: its `-S` overrides) finished: kept when it ran earlier from this
    commit with the same settings, else queued and run; every named experiment of this commit, as
    `finished_experiments`."""
    dvc("queue", "remove", "--failed", check=False)  # failed attempts are queued again below
    kept = finished_experiments(baseline)
    queued = []
    for name, wanted in plan.items():
        if name in kept and same_settings(kept[name], wanted):
            console.print(f"{name}: finished earlier, kept")
            continue
        if name in kept:
            raise typer.BadParameter(
                f"experiment {name} exists with other settings: give another --prefix, "
                f"or `dvc exp remove {name}`"
            )
        dvc("exp", "run", "--queue", "--name", name, *[arg for o in wanted for arg in ("-S", o)], env=env)
        queued.append(name)
    if queued:
        console.print(f"{len(queued)} experiment(s) queued, {jobs} at a time, {threads} torch thread(s) each")
        dvc("queue", "start", "--jobs", str(jobs), env=env)
        wait_for(queued)
    done = finished_experiments(baseline)
    if missing := [name for name in plan if name not in done]:
        console.print(
            f"[red]failed: {', '.join(missing)}[/red]; `dvc queue logs <name>` says why, rerun to retry"
        )
        raise typer.Exit(1)
    return done


def against_longer_sft(
    results: dict[str, dict],
    seed_key: str,
    recipe: list[str],
    prefix: str,
    baseline: str,
    jobs: int,
    threads: str,
    env: dict,
) -> dict:
    """GRPO against SFT given the same extra minutes, per data seed and pooled over data seeds."""
    by_seed: dict[int, list[dict]] = defaultdict(list)
    for result in results.values():
        by_seed[result["data_seed"]].append(result)
    plan, steps = {}, {}
    for seed, runs in sorted(by_seed.items()):
        extra = mean(r["grpo_minutes"] + r["select_minutes"] for r in runs)  # GRPO seeds: their mean
        steps[seed] = matched_sft_steps(runs[0]["sft_steps"], runs[0]["sft_minutes"], extra)
        plan[f"{prefix}-d{seed}-sft"] = more_sft_overrides(seed_key, seed, recipe, steps[seed])
    done = run_experiments(plan, baseline, jobs, threads, env)
    per_seed, comparisons = {}, {}
    for seed, runs in sorted(by_seed.items()):
        rev = done[f"{prefix}-d{seed}-sft"]["rev"]
        compared = [against_more_sft(r["rev"], rev, seed) for r in runs]
        comparisons[seed] = compared[0] | {"sft_steps": steps[seed], "grpo_seeds": len(compared)}
        per_seed[seed] = mean(c["delta"] for c in compared)
    try:
        over = replicate_interval(list(per_seed.values()), names=("more_sft", "grpo"))
        verdict = (
            f"{conclusion(over)} (t interval over {len(per_seed)} data seeds, p = {over['p_value']:.3f})"
        )
    except ValueError as undefined:
        over, verdict = None, str(undefined)
    return {
        "more_sft": {
            "per_data_seed": comparisons,
            "per_data_seed_delta": per_seed,
            "over_data_seeds": over,
            "verdict": verdict,
        }
    }


def wait_for(names: list[str], poll_s: float = 20) -> None:
    """Until none of `names` is queued, and no queue worker runs (`dvc queue status`). The workers are
    counted rather than the tasks marked Running: a task whose machine was restarted mid-run stays marked
    Running for good."""
    while True:
        status = dvc("queue", "status", check=False).stdout
        if not busy(status, names):
            return
        time.sleep(poll_s)


def busy(status: str, names: list[str]) -> bool:
    """Whether `dvc queue status` says one of `names` waits for a worker, or a worker still runs.

    >>> busy("8a4992a  r-d1-g0  08:31 AM   Running\\n\\nWorker status: 0 active, 0 idle", ["r-d1-g0"])
    False
    >>> busy("cfe030e  r-d1-g0  09:13 AM   Queued\\n\\nWorker status: 0 active, 0 idle", ["r-d1-g0"])
    True
    >>> busy("cfe030e  r-d1-g0  09:13 AM   Running\\n\\nWorker status: 1 active, 0 idle", ["r-d1-g0"])
    True
    """
    active = re.search(r"Worker status: (\d+) active", status)
    queued = any(name in line and "Queued" in line for line in status.splitlines() for name in names)
    return queued or bool(active and int(active.group(1)))


def pooled(results: dict[str, dict], recipe: list[str]) -> dict:
    """The replicates, the verdict over data seeds, the GRPO-seed spread and the problem-level estimate."""
    by_seed: dict[int, list[dict]] = defaultdict(list)
    for result in results.values():
        by_seed[result["data_seed"]].append(result)
    per_seed = {seed: mean(r["comparison"]["delta"] for r in runs) for seed, runs in sorted(by_seed.items())}
    try:
        over_seeds = replicate_interval(list(per_seed.values()), names=("sft", "grpo"))
        over = f"t interval over {len(per_seed)} data seeds, p = {over_seeds['p_value']:.3f}"
        verdict = f"{conclusion(over_seeds)} ({over})"
    except ValueError as undefined:
        over_seeds, verdict = None, str(undefined)
    problems = pooled_problems([r["comparison"] for r in results.values()])
    noise = {
        seed: pstdev([r["comparison"]["delta"] for r in runs])
        for seed, runs in by_seed.items()
        if len(runs) > 1
    }
    return {
        "recipe": recipe,
        "replicates": results,
        "per_data_seed_delta": per_seed,
        "over_data_seeds": over_seeds,
        "verdict": verdict,
        "problem_level": problems,
        "grpo_seed_spread": noise,
    }


def show(summary: dict) -> None:
    table = Table(title="SFT -> GRPO per replicate (each its own training set, SFT adapter and held-out set)")
    for column in (
        "experiment",
        "data seed",
        "GRPO seed",
        "SFT",
        "GRPO",
        "paired delta [95% CI]",
        "p",
        "fixed / broken",
        "groups tied",
    ):
        table.add_column(column)
    for name, r in summary["replicates"].items():
        c = r["comparison"]
        tied = "" if r["tied"] is None else f"{100 * r['tied']:.0f}%"
        table.add_row(
            name, str(r["data_seed"]), str(r["grpo_seed"]), f"{100 * r['sft']:.1f}%",
            f"{100 * r['grpo']:.1f}%", points(c), f"{c['p_value']:.3g}", f"{c['fixed']} / {c['broken']}",
            tied,
        )  # fmt: skip
    console.print(table)
    console.print(f"Over data seeds (the verdict): {summary['verdict']}")
    problems = summary["problem_level"]
    console.print(
        f"Problem level (every held-out problem pooled, ignores how data seeds differ; reference only): "
        f"{points(problems)}, n = {problems['n']}"
    )
    for seed, spread in summary["grpo_seed_spread"].items():
        console.print(f"GRPO-seed noise on data seed {seed}: sd {100 * spread:.1f} points")
    if more := summary.get("more_sft"):
        for seed, c in more["per_data_seed"].items():
            console.print(
                f"data seed {seed}: GRPO against SFT for {c['sft_steps']} steps (the same extra minutes): "
                f"{points(c)}, fixed / broken {c['fixed']} / {c['broken']}"
            )
        console.print(f"GRPO against SFT given the same minutes, over data seeds: {more['verdict']}")


if __name__ == "__main__":
    typer.run(main)
