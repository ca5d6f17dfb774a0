"""DVC stage entry points: each reads params and files, calls the `rlvr` library, writes its outputs.

Run from the project root as `python -m tasks.<stage> --help`; `dvc.yaml` holds the paths they get.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from rlvr.errors import RlvrError


def stage(main: Callable) -> None:
    """Run `main` as a command line; an error the user can fix prints its message, not a traceback."""

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            return main(*args, **kwargs)
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
GRPO = typer.Option(..., help="Directory written by the train stage's main arm.")
SFT_LOG = typer.Option(..., help="The sft stage's per-step log (JSON).")
TRAIN_LOG = typer.Option(..., help="The train stage's per-step log (JSON).")
CHECKPOINTS = typer.Option(..., help="Parent directory of resumable checkpoints.")
