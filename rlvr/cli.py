"""The `rlvr` command: reports, profiles, registry promotion and rollback, and inference.

Stages themselves run through `dvc repro` (see dvc.yaml), and the Prefect server and its deployments
start with `python -m flows.serve`; this is everything around them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rlvr.errors import RlvrError
from rlvr.files import read_arms_report, read_evaluation, write_failure

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
ROOT = typer.Option(Path("."), "--root", help="The project root (holds params.yaml and dvc.yaml).")


def _fail(exc: Exception) -> None:
    """Print an error a user can fix in one line and exit 1: an RlvrError, or a write that a full or
    read-only disk stopped (`rlvr.files.write_failure`: the cache, the MLflow store's database). Anything
    else is a bug, raised with its traceback."""
    failure = exc if isinstance(exc, RlvrError) else write_failure(exc)
    if failure is None:
        raise exc
    console.print(f"[red]error:[/red] {failure}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


@app.command()
def report(root: Path = ROOT) -> None:
    """Print the last evaluation: each model's accuracy with its 95% interval, the paired comparisons,
    and what they let one conclude."""
    from rlvr.evaluation.report import COMPARISON_HEADER, DELTA_HEADER, comparison_rows, delta_rows, wrapped
    from rlvr.mlops.dvcfile import paths

    try:
        files = paths(root)
        metrics = read_evaluation(files["metrics"])
        arms = read_arms_report(files["arms_report"]) if files["arms_report"].is_file() else None
    except RlvrError as exc:
        _fail(exc)
    # The names and the intervals are never wrapped or cut (the other columns give way); each comparison's
    # conclusion, an interval in a sentence, goes below its table, wrapped between intervals: readable at
    # 80 columns.
    comparisons = delta_rows(metrics)
    for title, header, rows in (
        (f"Held-out evaluation ({files['metrics']})", COMPARISON_HEADER, comparison_rows(metrics)),
        (
            "Paired comparisons (bootstrap 95% CI, exact McNemar test)",
            DELTA_HEADER[:-1],
            [row[:-1] for row in comparisons],
        ),
    ):
        table = Table(title=title)
        for i, name in enumerate(header):
            whole = i == 0 or "[95% CI]" in name
            table.add_column(name.replace(" [95% CI]", "\n[95% CI]"), no_wrap=whole)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    prose = [row[-1] for row in comparisons]
    warnings: list[str] = []
    if arms is not None:
        prose += arms["conclusions"]
        warnings = arms["warnings"]
    prose += _counts(metrics, files["arms_report"]) + _registry_standing(root)
    for line in prose:
        console.print(wrapped(line, console.width), highlight=False, markup=False, soft_wrap=True)
    for line in warnings:
        console.print(wrapped(line, console.width, "warning: "), style="yellow", markup=False, soft_wrap=True)


def _counts(metrics: dict, arms_report: Path) -> list[str]:
    """The problems each paired comparison fixed and broke, and the share of GRPO groups whose
    completions all scored alike (no learning signal there), per arm (from the report stage's
    `arms_report`)."""
    from rlvr.evaluation.scoring import COMPARISONS

    lines = [
        f"{c['from']} -> {c['to']}: {c['fixed']} problems fixed, {c['broken']} broken, of {c['n']}"
        for c in metrics.get(COMPARISONS, [])
    ]
    arms = read_arms_report(arms_report)["arms"] if arms_report.is_file() else {}
    tied = {name: arm["tied"] for name, arm in arms.items() if arm.get("tied") is not None}
    if tied:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in tied.items())
        lines.append(f"GRPO groups whose rewards all tied (no learning signal): {shares}")
    return lines


def _registry_standing(root: Path) -> list[str]:
    """Which version is champion, and what `rlvr promote` would do now: the same gate, computed without
    changing anything (nothing is scored)."""
    from rlvr.mlops.registry import judge, settings
    from rlvr.mlops.store import client

    try:
        name, margin = settings(root / "params.yaml")
        verdict = judge(client(must_exist=True), name, margin)
    except RlvrError as exc:
        return [f"registry: {exc}"]
    champion = f"v{verdict.champion}" if verdict.champion else "none"
    action = f"make v{verdict.challenger} champion" if verdict.moves else "change nothing"
    return [
        f"registry {name}: champion {champion}, challenger v{verdict.challenger}",
        f"`rlvr promote` would {action}: {verdict.reason}",
    ]


@app.command()
def plots(
    root: Path = ROOT,
    out: Path = typer.Option(Path("dvc_plots/offline.html"), help="The page to write (one file)."),
) -> None:
    """Draw the pipeline's plots (`dvc plots`' definitions and data) into one HTML page that needs no
    network: the curves as SVG (vl-convert renders Vega-Lite in-process), the charts as embedded PNGs.
    `dvc plots show` draws the same page with Vega loaded from a CDN, blank offline."""
    from rlvr.evaluation.report import offline_plots_page

    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "--json"], cwd=root, capture_output=True, text=True
    )
    if shown.returncode != 0:
        reason = shown.stderr.strip()[-500:]
        _fail(RlvrError(f"dvc plots show failed in {root}: {reason}; run `dvc repro` first"))
    from rlvr.files import write_text

    write_text(root / out, offline_plots_page(json.loads(shown.stdout)["data"]))
    console.print(f"{root / out}: every plot, drawn offline")


@app.command()
def deps(root: Path = ROOT) -> None:
    """Rewrite each stage's code deps in dvc.yaml from the imports of the module it runs (its whole import
    closure), in place: the rest of the file, comments included, stays as written."""
    from rlvr.mlops.codedeps import write_code_deps
    from rlvr.mlops.dvcfile import paths

    try:
        paths(root)  # one line outside a project
        changed = write_code_deps(root)
    except RlvrError as exc:
        _fail(exc)
    done = f"rewritten for {', '.join(changed)}" if changed else "current"
    console.print(f"dvc.yaml: code deps {done}")


@app.command("use-profile")
def use_profile(
    name: str = typer.Argument(..., help="default, or a file name in profiles/"), root: Path = ROOT
):
    """Write a params profile into params.yaml (then `dvc repro` runs what it changes)."""
    from rlvr.config.profiles import use_profile as write_profile
    from rlvr.locks import pipeline_lock

    try:
        with pipeline_lock(root):  # not between the stages of a `dvc repro` or a flow run either
            params = write_profile(root, name)
    except RlvrError as exc:
        _fail(exc)
    console.print(f"params.yaml now holds profile '{name}' (model: {params.model.name})")


@app.command("check-params")
def check_params(path: Path = typer.Argument(Path("params.yaml"))) -> None:
    """Validate a params file and say what is wrong with it: every key and value, and what only a data
    source's own module checks (the knobs of each reasoning-gym task against reasoning-gym's config, which
    only the fetch stage reads otherwise)."""
    from rlvr.config.schema import load_params
    from rlvr.data import catalog

    try:
        p = load_params(path)
        catalog.check(p.data)
    except RlvrError as exc:
        _fail(exc)
    console.print(f"{path}: valid")
    sources = {"data": p.data}
    if p.sft.max_steps and p.sft.data.source != "train":
        sources["sft.data"] = p.sft.data
    for key, data in sources.items():
        console.print(f"{key}: {data.source}: {catalog.describe(data)}")


@app.command()
def promote(
    name: str = typer.Option(None, help="Registered model name [default: registry.model_name]"),
    margin: float = typer.Option(
        None,
        help="Accuracy points (as a fraction: 0.02) that the lower bound of the challenger's paired 95% "
        "interval must exceed [default: registry.promote_margin]",
    ),
    force: bool = typer.Option(False, "--force", help="Promote whatever the comparison says (recorded)."),
    evaluate_champion: bool = typer.Option(
        False,
        "--evaluate-champion",
        help="If the champion was evaluated on other held-out problems, score it on the challenger's first.",
    ),
    root: Path = ROOT,
) -> None:
    """Move `champion` to the `challenger` if it beats the champion on the same held-out problems beyond
    noise; the decision is printed and recorded as tags on both versions."""
    from rlvr.mlops.registry import promote as promote_challenger
    from rlvr.mlops.registry import settings
    from rlvr.serving.versions import scorer

    try:
        name, margin = settings(root / "params.yaml", name, margin)
        evaluate = scorer(name) if evaluate_champion else None
        console.print(
            promote_challenger(name, margin, force=force, evaluate=evaluate).message, soft_wrap=True
        )
    except Exception as exc:
        _fail(exc)


@app.command()
def rollback(
    name: str = typer.Option(None, help="Registered model name [default: registry.model_name]"),
    reason: str = typer.Option("", help="Why, recorded in the `rolled_back` tag of the version left."),
    root: Path = ROOT,
) -> None:
    """Move `champion` back to the version it replaced; the version left is not promoted again unasked."""
    from rlvr.mlops.registry import rollback as rollback_champion
    from rlvr.mlops.registry import settings

    try:
        name, _ = settings(root / "params.yaml", name)
        console.print(rollback_champion(name, reason).message, soft_wrap=True)
    except Exception as exc:
        _fail(exc)


@app.command()
def ask(
    question: str = typer.Argument(..., help="A math question."),
    model: str = typer.Option("models:/rlvr-math@champion", help="A registered model URI."),
    show_reasoning: bool = typer.Option(
        False, "--show-reasoning", help="Print the whole completion, not only the answer."
    ),
) -> None:
    """Answer a question with a registered adapter on its base model (MLFLOW_TRACKING_URI names the
    registry; the version is downloaded and its base model built once, then reused)."""
    from rlvr.mlops.store import client
    from rlvr.serving import versions as registered

    if not question.strip():
        _fail(RlvrError('the question is empty; ask something, e.g. rlvr ask "What is 48 + 27?"'))
    try:  # bytes that are not UTF-8 reach Python as lone surrogates, which no tokenizer encodes
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = ord(question[exc.start]) - 0xDC00
        _fail(
            RlvrError(
                f"the question is not UTF-8 (byte 0x{byte:02x} at character {exc.start}); "
                "type it in a UTF-8 terminal"
            )
        )
    try:
        answerer, _, _ = registered.load(client(must_exist=True), model)
        completion = answerer.complete([question])[0]
    except Exception as exc:
        _fail(exc)
    shown, note = shown_answer(completion, answerer.markers, show_reasoning)
    typer.echo(shown)
    if note:
        typer.echo(note, err=True)


def shown_answer(completion: str, markers, show_reasoning: bool) -> tuple[str, str | None]:
    """What `ask` prints: the solution section (or, asked or when there is none, the whole completion),
    and a note for stderr.

    >>> from rlvr.config.schema import Markers
    >>> shown_answer("<start_working_out>2+2<end_working_out><SOLUTION>4</SOLUTION>", Markers(), False)
    ('4', None)
    >>> shown_answer("four", Markers(), False)
    ('four', '(no <SOLUTION> section in the completion: it is printed whole)')
    """
    from rlvr.verify.parsing import solution_section

    answer = solution_section(completion, markers)
    if show_reasoning:
        return completion, None
    if answer is None:
        return completion, f"(no {markers.solution_start} section in the completion: it is printed whole)"
    return answer, None
