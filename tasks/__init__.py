"""DVC stage entry points: each reads params and files, calls the `rlvr` library, writes its outputs.

Run from the project root as `python -m tasks.<stage> --help`; `dvc.yaml` holds the paths they get.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from rlvr.errors import RlvrError


def stage(main: Callable, track: str | None = None) -> None:
    """Run `main` as a command line; an error the user can fix prints its message, not a traceback.

    With `track`, the stage runs inside its own MLflow child run of the pipeline run (`rlvr.tracking`),
    opened once its params validate; `main` takes a `params` option, and its `out` (an adapter) and
    `metrics` (eval.json) options, when it has them, are recorded on the run when it succeeds."""

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            if track is None:
                return main(*args, **kwargs)
            from rlvr.config import load_params
            from rlvr.tracking import record_outputs, stage_run

            load_params(kwargs["params"])
            with stage_run(track, Path(kwargs["params"])):
                result = main(*args, **kwargs)
                record_outputs(adapter=kwargs.get("out"), evaluation=kwargs.get("metrics"))
                return result
        except RlvrError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(guarded)
    app()


# Options that several stages take, declared once.
PARAMS = typer.Option("params.yaml", "--params", help="The params file (validated before any work).")
DATA = typer.Option(..., help="Directory written by the prepare stage.")
BASE = typer.Option(..., help="Base model directory (written by the model stage).")
SFT = typer.Option(..., help="Directory written by the sft stage.")
GRPO = typer.Option(..., help="Directory written by the train stage.")
SFT_LOG = typer.Option(..., help="The sft stage's per-step log (JSONL).")
TRAIN_LOG = typer.Option(..., help="The train stage's per-step log (JSONL).")
CHECKPOINTS = typer.Option(..., help="Parent directory of resumable checkpoints.")
