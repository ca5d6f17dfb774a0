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

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
ROOT = typer.Option(Path("."), "--root", help="The project root (holds params.yaml and dvc.yaml).")


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


@app.command()
def report(root: Path = ROOT) -> None:
    """Print the last evaluation: each model's accuracy with its 95% interval, the paired comparisons,
    and what they let one conclude."""
    from rlvr.evaluation.report import COMPARISON_HEADER, DELTA_HEADER, comparison_rows, delta_rows
    from rlvr.mlops.dvcfile import paths

    files = paths(root)
    if not files["metrics"].is_file():
        _fail(RlvrError(f"{files['metrics']} does not exist yet; run `dvc repro` first"))
    metrics = json.loads(files["metrics"].read_text())
    for title, header, rows in (
        (f"Held-out evaluation ({files['metrics']})", COMPARISON_HEADER, comparison_rows(metrics)),
        ("Paired comparisons (bootstrap 95% CI, exact McNemar test)", DELTA_HEADER, delta_rows(metrics)),
    ):
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if files["arms_report"].is_file():
        arms = json.loads(files["arms_report"].read_text())
        for line in arms["conclusions"]:
            console.print(f"- {line}")
        for line in arms["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {line}")


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
    """Validate a params file and say what is wrong with it: every key and value, and the knobs of each
    reasoning-gym task against reasoning-gym's own config (which only the fetch stage reads otherwise)."""
    from rlvr.config.schema import load_params
    from rlvr.data.gym import check_mix

    try:
        check_mix(load_params(path).data.reasoning_gym)
    except RlvrError as exc:
        _fail(exc)
    console.print(f"{path}: valid")


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
    except RlvrError as exc:
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
    except RlvrError as exc:
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
    try:
        answerer, _, _ = registered.load(client(must_exist=True), model)
        completion = answerer.complete([question])[0]
    except RlvrError as exc:
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
