"""DVC stage entry points: each reads params and files, calls the `rlvr` library, writes its outputs.

Run from the project root as `python -m tasks.<stage> --help`; `dvc.yaml` holds the paths they get.
"""

from __future__ import annotations

import functools
import inspect
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from rlvr.config.schema import DistributedParams, load_params
from rlvr.contracts import AdapterManifest
from rlvr.errors import DataError, RlvrError
from rlvr.files import replacing, write_failure, write_log, write_manifest
from rlvr.locks import params_lock, upstream_params_unchanged
from rlvr.training.hardware import cuda_available


def stage(main: Callable) -> None:
    """Run `main` as a command line; an error the user can fix prints its message, not a traceback.

    The stage holds the project's params lock while it runs (`rlvr.locks`), and fails if the values in
    its params file changed all the same (an editor ignores the lock): DVC would otherwise record params
    the stage never used, and call its outputs up to date; nor does it start on upstream outputs made
    with other params than it reads (`rlvr.locks.upstream_params_unchanged`). A write that a full or
    read-only disk stopped below (a trainer's checkpoint, MLflow's store) is one line too
    (`rlvr.files.write_failure`); every output it was writing was a temporary sibling, so the previous
    outputs stay whole."""
    if "params" not in inspect.signature(main).parameters:
        raise TypeError(f"{main.__module__}.main takes no `params` option: every stage reads params.yaml")

    @functools.wraps(main)
    def guarded(**kwargs):
        params = Path(kwargs["params"])
        try:
            with params_lock(params.resolve().parent, wait_s=10):
                before = load_params(params)  # the values it runs on, read as soon as it holds the lock
                upstream_params_unchanged(params.resolve().parent)
                result = main(**kwargs)
                if load_params(params) != before:
                    raise RlvrError(
                        f"{params} changed while the stage ran, so its outputs follow the old values; "
                        "run `dvc repro` again"
                    )
                return result
        except Exception as exc:
            failure = exc if isinstance(exc, RlvrError) else write_failure(exc)
            if failure is None:
                raise
            print(f"error: {failure}", file=sys.stderr)
            raise typer.Exit(1) from None

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(guarded)
    app()


def relaunched(distributed: DistributedParams) -> bool:
    """Re-run this stage under `accelerate launch` when params ask for several processes and this one is
    not one of them yet; True when it did (the caller then has nothing left to do).

    Without an accelerate config file the processes are DDP on this host's GPUs, or gloo processes on a
    CPU (TRL's trainers run with `use_cpu` there, which accelerate turns into its MULTI_CPU mode), each
    with its share of the cores."""
    if distributed.num_processes == 1 or "LOCAL_RANK" in os.environ:
        return False
    n = distributed.num_processes
    with socket.socket() as probe:  # a free port, so two pipelines on one host never collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--num_machines", "1",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), "--mixed_precision", "no",
        "--dynamo_backend", "no", "--num_cpu_threads_per_process", str(max(1, (os.cpu_count() or 1) // n)),
    ]  # fmt: skip
    command += ["--config_file", distributed.config_file] if distributed.config_file else ["--multi_gpu"]
    command += ["-m", sys.modules["__main__"].__spec__.name, *sys.argv[1:]]
    # Left to itself, accelerate gives CPU rank r the device `cpu:r`, to which torch cannot map a saved
    # optimizer state: resuming would fail. Plain `cpu` is what every CPU rank is.
    env = os.environ if cuda_available() else {**os.environ, "ACCELERATE_TORCH_DEVICE": "cpu"}
    print(f"accelerate launch: {n} processes", flush=True)
    if returncode := subprocess.run(command, env=env).returncode:
        raise typer.Exit(returncode)
    return True


def skipped(out: Path, log: Path, curve: Path, manifest: AdapterManifest) -> None:
    """A training stage that has nothing to train: its adapter folder holds only a manifest saying why
    (`trained: false`), and its per-step log and learning curve are empty, so DVC has the outputs it
    expects."""
    with replacing(out) as tmp:
        tmp.mkdir()
        write_manifest(tmp, manifest)
    write_log([], log)
    write_log([], curve)


def check_arm_names(arms: list[str]) -> None:
    """An arm is a name (a folder under --models-dir, a log under --logs-dir, a checkpoint folder), never
    a path: `../x` would read outside the project, and training deletes its checkpoint folder when done.

    >>> check_arm_names(["grpo", "grpo_from_base"])
    >>> check_arm_names(["../../../etc"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rlvr.errors.DataError: --arm '../../../etc' is not an arm's name: ...
    """
    for name in arms:
        if name in ("", "..") or Path(name).name != name:
            raise DataError(
                f"--arm {name!r} is not an arm's name: name one of dvc.yaml's vars.arms (such as grpo), "
                "not a path"
            )


# Options that several stages take, declared once.
PARAMS = typer.Option("params.yaml", "--params", help="The params file (validated before any work).")
DATA = typer.Option(..., help="Directory written by the prepare stage.")
BASE = typer.Option(..., help="Base model directory (written by the model stage).")
SFT = typer.Option(..., help="Directory written by the sft stage.")
GRPO = typer.Option(..., help="Directory written by the train stage's main arm.")
SFT_LOG = typer.Option(..., help="The sft stage's per-step log (JSON).")
CURVE = typer.Option(..., help="JSON file for the learning curve: held-out accuracy by step and minutes.")
CHECKPOINTS = typer.Option(..., help="Parent directory of resumable checkpoints.")
