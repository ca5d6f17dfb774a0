"""Shared fixtures: a tiny model, and temporary git+DVC copies of this project on the tiny profile.

The end-to-end tests run the real `dvc repro` (and the real Prefect flows, on Prefect's test server) in
those copies, against a SQLite-backed MLflow registry inside each copy. One fully reproduced project is
built per session, by the pipeline flow; tests that change it work on a copy of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """`gpu` tests skip cleanly where torch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# The tests on the session's reproduced project: under `pytest -n 2` (make test) one worker runs them all,
# so the project is built once; the other tests are spread one by one over both workers.
ON_THE_REPRODUCED_PROJECT = (
    "tests/test_cli.py",
    "tests/test_flows.py",
    "tests/test_pipeline.py",
    "tests/test_tracking.py",
)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ReproducedOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "reproduced" if nodeid.split("::", 1)[0] in ON_THE_REPRODUCED_PROJECT else nodeid

    return ReproducedOnOneWorker(config, log)


def project_env(project: Path) -> dict[str, str]:
    """The environment of a stage run in `project`: this venv first, offline, its own MLflow store."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "RLVR_CACHE": str(project / ".cache"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "TQDM_DISABLE": "1",
        "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.25",  # tiny stages last about a second: MLflow logs
        # no system metrics for a run that ends before its first interval (the evaluate run took 1.2 s)
    }


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def registry_client(project: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=project_env(project)["MLFLOW_TRACKING_URI"])


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def make_project(dest: Path, tiny_model: Path) -> Path:
    """This project's files (tracked and untracked-not-ignored, as a clone would have them, plus work in
    progress) in a fresh git repository, on the tiny profile, with the tiny model at ./tiny-model. What a
    pipeline run in this checkout wrote (`make demo`'s dvc.lock, metrics and logs, which git does not
    ignore) is left out: the tests run the pipeline themselves, from a clone's state."""
    from dvc.repo import Repo

    from rlvr.config.profiles import use_profile

    def files(*options: str) -> list[str]:
        return subprocess.run(
            ["git", "ls-files", *options], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()

    with Repo(str(ROOT)) as repo:
        products = {"dvc.lock", *(out.def_path for out in repo.index.outs)}
    untracked = files("--others", "--exclude-standard")
    work = [name for name in untracked if not any(name == p or name.startswith(f"{p}/") for p in products)]
    for name in files("--cached") + work:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(tiny_model, dest / "tiny-model")
    use_profile(dest, "tiny")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "project")
    return dest


def greedy_answers(project: Path, questions: list[str]) -> list[str]:
    """What the project's trained GRPO adapter answers, greedily, at the evaluate stage's settings: the
    reference a served or registered copy of it must reproduce."""
    from rlvr.config.schema import load_params
    from rlvr.data.prompts import chat_prompt
    from rlvr.mlops.dvcfile import paths
    from rlvr.training.decoding import generate
    from rlvr.training.models import load_model, load_tokenizer

    files, params = paths(project), load_params(project / "params.yaml")
    model = load_model(files["base"], params.model.dtype, adapter=files["grpo"])
    prompts = [chat_prompt(question, params.format) for question in questions]
    answers, _ = generate(
        model, load_tokenizer(files["grpo"]), prompts, params.evaluate.max_new_tokens, len(prompts)
    )
    return answers


def copy_project(source: Path, dest: Path) -> Path:
    """A copy of a project that is a project of its own: MLflow records absolute artifact paths, which would
    still lead into `source`'s folder (the registry refuses that), so the copy's store is pointed at the
    copy's own artifacts, as `sed` on a dumped store would do for a user who copies a project."""
    import sqlite3

    shutil.copytree(source, dest, symlinks=True)
    store = dest / "mlflow.db"
    if store.is_file():
        old, new = f"{source.resolve()}/", f"{dest.resolve()}/"
        with sqlite3.connect(store) as db:
            for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                  ("model_versions", "source"), ("model_versions", "storage_location"),
                                  ("logged_models", "artifact_location")):  # fmt: skip
                db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
    return dest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-model")


@pytest.fixture(scope="session")
def prefect_server():
    """Prefect's test server (a temporary database), for the session's flow runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, tiny_model, prefect_server) -> tuple[Path, object]:
    """A project after one full pipeline run, and the flow run's final state. The run is the Prefect
    pipeline flow, which runs every stage as `dvc repro --single-item <stage>` in DVC's order, so one
    run serves the tests of DVC's outputs and those of the flow. Do not modify: copy it."""
    from flows.pipeline import pipeline

    project = make_project(tmp_path_factory.mktemp("reproduced") / "project", tiny_model)
    with pytest.MonkeyPatch.context() as env:  # the stage commands inherit this process's environment
        for key, value in project_env(project).items():
            env.setenv(key, value)
        state = pipeline(root=str(project), return_state=True)
    return project, state


@pytest.fixture
def project_copy(reproduced, tmp_path) -> Path:
    return copy_project(reproduced[0], tmp_path / "project")
