"""The `rlvr` command: reports, profiles, registry promotion and rollback, and inference.

Stages themselves run through `dvc repro` (see dvc.yaml), and the Prefect server and its deployments
start with `python -m flows.serve`; this is everything around them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rlvr.errors import RlvrError

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
ROOT = typer.Option(Path("."), "--root", help="The project root (holds params.yaml and dvc.yaml).")


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def report(root: Path = ROOT) -> None:
    """Print the before/after table of the last evaluation."""
    from rlvr.evaluation import COMPARISON_HEADER, comparison_rows
    from rlvr.pipeline import paths

    metrics_file = paths(root)["metrics"]
    if not metrics_file.is_file():
        _fail(RlvrError(f"{metrics_file} does not exist yet; run `dvc repro` first"))
    table = Table(*COMPARISON_HEADER, title=f"Held-out evaluation ({metrics_file})")
    for row in comparison_rows(json.loads(metrics_file.read_text())):
        table.add_row(*row)
    console.print(table)


@app.command("use-profile")
def use_profile(
    name: str = typer.Argument(..., help="default, or a file name in profiles/"), root: Path = ROOT
):
    """Write a params profile into params.yaml (then `dvc repro` runs what it changes)."""
    from rlvr.profiles import use_profile as write_profile

    try:
        params = write_profile(root, name)
    except RlvrError as exc:
        _fail(exc)
    console.print(f"params.yaml now holds profile '{name}' (model: {params.model.name})")


@app.command("check-params")
def check_params(path: Path = typer.Argument(Path("params.yaml"))) -> None:
    """Validate a params file and say what is wrong with it."""
    from rlvr.profiles import checked

    try:
        checked(path)
    except RlvrError as exc:
        _fail(exc)
    console.print(f"{path}: valid")


def _registry_defaults(root: Path, name: str | None, margin: float | None) -> tuple[str, float]:
    from rlvr.config import load_params

    registry = load_params(root / "params.yaml").registry
    return name or registry.model_name, registry.promote_margin if margin is None else margin


@app.command()
def promote(
    name: str = typer.Option(None, help="Registered model name [default: registry.model_name]"),
    margin: float = typer.Option(None, help="Accuracy margin to win by [default: registry.promote_margin]"),
    root: Path = ROOT,
) -> None:
    """Move `champion` to the `challenger` if it wins on held-out accuracy by the margin."""
    from rlvr.registry import promote as promote_challenger

    try:
        name, margin = _registry_defaults(root, name, margin)
        console.print(promote_challenger(name, margin).message)
    except RlvrError as exc:
        _fail(exc)


@app.command()
def rollback(
    name: str = typer.Option(None, help="Registered model name [default: registry.model_name]"),
    root: Path = ROOT,
) -> None:
    """Move `champion` back to the version it replaced."""
    from rlvr.registry import rollback as rollback_champion

    try:
        name, _ = _registry_defaults(root, name, 0.0)
        console.print(rollback_champion(name).message)
    except RlvrError as exc:
        _fail(exc)


@app.command()
def ask(
    question: str = typer.Argument(..., help="A math question."),
    model: str = typer.Option("models:/rlvr-math@champion", help="A registered model URI."),
) -> None:
    """Answer a question with a registered adapter on its base model."""
    import mlflow.pyfunc

    from rlvr.registry import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    try:
        answer = mlflow.pyfunc.load_model(model).predict([question])[0]
    except mlflow.exceptions.MlflowException as exc:
        _fail(RlvrError(f"cannot load {model} from {tracking_uri()}: {exc.message}"))
    except RlvrError as exc:
        _fail(exc)
    typer.echo(answer)
