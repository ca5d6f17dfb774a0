"""The pipeline flow: one Prefect task per DVC stage, each run with `dvc repro --single-item`.

DVC stays the one way a stage runs, so its cache is the only cache: before each stage the flow asks DVC's
status of that stage (its code, params and data against dvc.lock, after every stage before it ran); one
that is up to date is not run, and its task ends in a `Skipped` state. Stages run one at a time (DVC locks the
repository), in the order of DVC's graph; the first failure fails the flow with the stage's own error
text, and later stages do not run. The stages tag the MLflow run they log into with this flow run's id
and URL.

A profile and overrides given to the flow are written into params.yaml for the run; unless
`persist_overrides`, the file is restored when the run ends, and the report says which applied.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed
from prefect.tasks import exponential_backoff

from flows.artifacts import publish_report
from flows.failures import in_one_line
from rlvr.config.profiles import params_for_run
from rlvr.config.schema import load_params
from rlvr.locks import pipeline_lock
from rlvr.mlops.dvcfile import stage_order, up_to_date
from rlvr.mlops.runs import FLOW_RUN_ID_ENV, FLOW_RUN_URL_ENV

NETWORK_STAGES = ("fetch", "model")  # they may download from the Hugging Face hub


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message ends with the stage's own last lines of output."""


def flow_run_url() -> str | None:
    """This flow run's page in the Prefect UI (its address derived from the API's where no UI URL is
    configured, as on a local server)."""
    from prefect.runtime import flow_run
    from prefect.settings import PREFECT_API_URL
    from prefect.utilities.urls import url_for

    if flow_run.id is None:
        return None
    api = PREFECT_API_URL.value()
    return url_for("flow-run", obj_id=flow_run.id, default_base_url=api.removesuffix("/api") if api else None)


def stage_env() -> dict[str, str]:
    """The stage's environment: this interpreter's bin first (so `python` and `dvc` are this venv's),
    progress bars that refresh every few seconds, since every line lands in the Prefect logs, and this
    flow run's id and URL for the MLflow run."""
    from prefect.runtime import flow_run

    bin_dir = str(Path(sys.executable).parent)
    flow_tags = {FLOW_RUN_ID_ENV: flow_run.id, FLOW_RUN_URL_ENV: flow_run_url()}
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "TQDM_MININTERVAL": "5",
        **{key: value for key, value in flow_tags.items() if value},
    }


def dvc_streamed(root: str, *args: str) -> tuple[int, list[str]]:
    """`dvc <args>` in the project, its output streamed line by line into the task's logs; the exit code
    and the lines."""
    logger = get_run_logger()
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    for line in process.stdout:
        line = line.rstrip()
        if line:
            lines.append(line)
            logger.info(line)
    return process.wait(), lines


@task(cache_policy=NO_CACHE, persist_result=False, task_run_name="{stage}")
def run_stage(root: str, stage: str):
    """`dvc repro --single-item <stage>`, its output streamed line by line into the task's logs, unless
    DVC's status finds the stage up to date: then it is skipped."""
    logger = get_run_logger()
    if up_to_date(Path(root), stage):
        logger.info(f"Stage '{stage}' didn't change, skipping (dvc status)")
        return Completed(name="Skipped", message=f"DVC: stage '{stage}' is up to date", data="skipped")
    returncode, lines = dvc_streamed(root, "repro", "--single-item", stage)
    if returncode != 0:
        tail = "\n".join(lines[-15:])
        raise StageFailed(f"DVC stage '{stage}' failed (exit {returncode}):\n{tail}")
    return Completed(message=f"DVC ran stage '{stage}'", data="ran")


@task(cache_policy=NO_CACHE, persist_result=False, task_run_name="dvc push")
def push_outputs(root: str) -> str:
    """`dvc push`: every cached output to the default remote, so that other machines `dvc pull` this run's
    results instead of running its stages again. The remote's credentials come from the environment (for
    S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), never from a file that is committed."""
    returncode, lines = dvc_streamed(root, "push")
    if returncode != 0:
        tail = "\n".join(lines[-15:])
        raise StageFailed(f"dvc push failed (exit {returncode}):\n{tail}")
    return lines[-1] if lines else "pushed"


@flow(name="rlvr-pipeline", log_prints=True)
@in_one_line
def pipeline(
    root: str = ".",
    profile: str | None = None,
    overrides: Sequence[str] = (),
    persist_overrides: bool = False,
    push: bool = False,
) -> dict[str, str]:
    """Run every DVC stage in order. `profile` and `overrides` (`train.max_steps=3`) are written into
    params.yaml first (values only, the rest of the file untouched); with `persist_overrides` they stay
    there for later runs, else params.yaml is restored when this run ends. With `push`, `dvc push` uploads
    the outputs to the project's DVC remote after the last stage. MLflow and dvc.lock record what ran."""
    logger = get_run_logger()
    project = Path(root).resolve()
    with pipeline_lock(project), params_for_run(project, profile, overrides, persist_overrides) as change:
        logger.info(change.describe())
        schedule = load_params(project / "params.yaml").schedule
        outcome: dict[str, str] = {}
        for stage in stage_order(project):
            retries = schedule.network_retries if stage in NETWORK_STAGES else 0
            runner = run_stage.with_options(
                retries=retries,
                retry_delay_seconds=exponential_backoff(backoff_factor=schedule.retry_delay_s),
            )
            outcome[stage] = runner(str(project), stage).result()  # the task's final state
            logger.info(f"stage {stage}: {outcome[stage]}")
        if push:
            logger.info(push_outputs(str(project)))
        publish_report(project, outcome, change)
    return outcome
