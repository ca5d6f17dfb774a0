"""Stage `model`: the base model named by the `model` params, resolved into a local directory."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.training.hardware import resolve_dtype
from rlvr.training.models import materialise_base
from tasks import PARAMS, stage


def main(
    out: Path = typer.Option(..., help="Directory to hold the base model."), params: Path = PARAMS
) -> None:
    model = load_params(params).model
    manifest = materialise_base(model.name, model.revision, resolve_dtype(model.dtype), out)
    print(f"model: {manifest['name']} -> {out}")


if __name__ == "__main__":
    stage(main)
