"""Broken files fed to the real commands: each is refused in one line that names the file (no traceback),
before any expensive work, and nothing earlier is lost; full and read-only disks are one line too, and
leave the previous outputs whole."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from rlvr.cli import app
from rlvr.config.yamlfile import read_yaml
from rlvr.contracts import AdapterManifest, CacheStamp
from rlvr.errors import DataError, RlvrError
from rlvr.files import (
    DiskFull,
    ReadOnly,
    read_json,
    read_jsonl,
    read_log,
    read_registry_record,
    together,
    write_failure,
    write_json,
    write_jsonl,
    write_manifest,
    write_registry_record,
)
from rlvr.hashing import hash_path
from rlvr.mlops import store
from rlvr.serving.versions import ADAPTER, local_copy, read_mlmodel
from tests.conftest import ROOT, project_env
from tests.stages import ROWS, STAGE_ENV, stage_command, stage_project

EVALUATION = {
    "base": {"accuracy": 0.0, "accuracy_ci_low": 0.0, "accuracy_ci_high": 0.5, "format": 0.0,
             "mean_length": 8.0, "problems": 4},
    "grpo": {"accuracy": 0.5, "accuracy_ci_low": 0.1, "accuracy_ci_high": 0.9, "format": 1.0,
             "mean_length": 6.0, "problems": 4},
    "comparisons": [{"from": "base", "to": "grpo", "delta": 0.5, "ci_low": 0.0, "ci_high": 1.0,
                     "p_value": 0.5, "n": 4, "fixed": 2, "broken": 0}],
}  # fmt: skip


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def failed_stage(project: Path, stage: str, **options) -> str:
    """The one line a stage printed when it refused its input (exit status 1, no traceback)."""
    result = subprocess.run(
        stage_command(project, stage, **options), cwd=ROOT, capture_output=True, text=True, env=STAGE_ENV
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    return one_line(result.stderr)


# --- the readers ---------------------------------------------------------------------------------------


def test_a_jsonl_line_nested_100000_deep_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"rows.jsonl, line 2: nested more than 64 deep; fix the file"):
        read_jsonl(path)


def test_a_truncated_json_names_the_file_and_the_stage_that_remakes_it(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(EVALUATION)[:60])
    with pytest.raises(DataError) as found:
        read_json(path, "evaluate")
    assert str(found.value).startswith(f"{path}: not valid JSON (cut short?)")
    assert str(found.value).endswith("run `dvc repro -f evaluate`")


def test_a_log_that_is_not_a_list_of_steps_is_refused(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text('{"a": 1}')
    with pytest.raises(DataError, match=r"sft.json: input should be a valid list; run `dvc repro -f sft`"):
        read_log(path, "sft")
    path.write_text('[{"step": 1, "loss": 0.5}, {"loss": 0.4}]')
    with pytest.raises(DataError, match=r"sft.json: 1.step: field required"):
        read_log(path, "sft")


def test_a_manifest_with_a_misspelt_field_is_refused_when_written(tmp_path):
    with pytest.raises(ValueError, match="train_row"):
        AdapterManifest(stage="train", trained=True, train_row=3)
    write_manifest(tmp_path, AdapterManifest(stage="train", trained=False, arm="g", reason="off"))
    assert json.loads((tmp_path / "rlvr_adapter.json").read_text()) == {
        "stage": "train", "trained": False, "arm": "g", "reason": "off"
    }  # fmt: skip


def test_the_registry_record_is_checked_when_written_and_when_read(tmp_path):
    path = tmp_path / "registry.json"
    record = {"tracking_uri": "sqlite:///mlflow.db", "run_id": "r", "experiment_id": "0", "model_name": "m"}
    with pytest.raises(DataError, match="registered: false.* must say why"):
        write_registry_record(path, {**record, "registered": False})
    assert not path.exists()
    write_registry_record(
        path, {**record, "registered": False, "reason": "registry.register_versions is false"}
    )
    assert read_registry_record(path).reason == "registry.register_versions is false"
    path.write_text('{"run_id": "r"}')  # what the flows' report reads: one line, not a KeyError
    with pytest.raises(
        DataError, match=r"registry.json: tracking_uri: field required.*dvc repro -f register`$"
    ):
        read_registry_record(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
            )
            + "train: {max_steps: *i}\n",
            "aliases expand to more than 100000 values",
        ),
        ("? [a, b]\n: 1\n", "a key must be a plain value"),
        ("train: {max_steps: " + "9" * 5000 + "}\n", "an integer of more than 100 digits"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels deep"),
    ],
    ids=["alias-bomb", "complex-key", "huge-integer", "deep"],
)
def test_check_params_refuses_a_hostile_yaml_in_one_line(tmp_path, text, problem):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(RlvrError, match=problem):
        read_yaml(path, RlvrError)
    result = CliRunner().invoke(app, ["check-params", str(path)])
    assert result.exit_code == 1 and problem in one_line(result.output)


# --- rlvr report ---------------------------------------------------------------------------------------


def report_project(tmp_path: Path, eval_text: str, arms_text: str | None) -> Path:
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "eval.json").write_text(eval_text)
    if arms_text is not None:
        (tmp_path / "metrics" / "arms.json").write_text(arms_text)
    return tmp_path


@pytest.mark.parametrize(
    ("eval_text", "arms_text", "wrong"),
    [
        (json.dumps(EVALUATION)[:100], None, "eval.json: not valid JSON (cut short?)"),
        (json.dumps({"grpo": 5}), None, "eval.json: comparisons: field required"),
        (json.dumps(EVALUATION), '{"arms": {}, "conclu', "arms.json: not valid JSON (cut short?)"),
        (json.dumps(EVALUATION), '{"arms": [], "conclusions": [], "warnings": []}', "arms.json: arms: input"),
    ],
    ids=["eval-truncated", "eval-wrong-shape", "arms-truncated", "arms-wrong-shape"],
)
def test_report_refuses_a_broken_evaluation_in_one_line(tmp_path, eval_text, arms_text, wrong):
    project = report_project(tmp_path, eval_text, arms_text)
    result = CliRunner().invoke(app, ["report", "--root", str(project)])
    line = one_line(result.output)
    assert result.exit_code == 1 and wrong in line and "dvc repro -f report" in line
    assert (project / "metrics" / "eval.json").read_text() == eval_text  # nothing lost


def test_report_outside_a_project_says_so(tmp_path):
    result = CliRunner().invoke(app, ["report", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "is not an rlvr project (no dvc.yaml)" in one_line(result.output)


# --- the stages ----------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, tiny_model) -> Path:
    return stage_project(tmp_path, tiny_model)


def register_options(project: Path) -> dict:
    return dict(
        base=project / "base", sft=project / "sft", grpo=project / "models" / "grpo",
        metrics=project / "eval.json", fetch_report=project / "fetch.json",
        predictions=project / "predictions.jsonl", plots=project / "plots", out=project / "registry.json",
    )  # fmt: skip


# What the fetch stage reports for an unpinned hub dataset: the commit it fetched.
FETCHED = {"data": {"source": "hub", "rows": 24, "path": "org/math", "requested_revision": None,
                    "revision": "c0ffee1234"}}  # fmt: skip
WITHOUT_GRPO = {"base": EVALUATION["base"], "comparisons": []}


@pytest.mark.parametrize(
    ("broken", "text", "wrong"),
    [
        ("eval.json", '{"grpo": 5}', "eval.json: comparisons: field required"),
        ("eval.json", json.dumps(WITHOUT_GRPO), "eval.json: no `grpo` entry"),
        ("fetch.json", json.dumps(FETCHED)[:40], "fetch.json: not valid JSON (cut short?)"),
        ("base/rlvr_base.json", "[]", "rlvr_base.json: input should be a valid dictionary"),
    ],
    ids=["eval", "eval-without-grpo", "fetch-report", "base-manifest"],
)
def test_register_refuses_a_wrong_shaped_input_before_touching_the_registry(project, broken, text, wrong):
    write_json(project / "eval.json", EVALUATION)
    write_json(project / "fetch.json", FETCHED)
    (project / broken).write_text(text)
    line = failed_stage(project, "register", **register_options(project))
    assert wrong in line and "run `dvc repro -f " in line
    assert not (project / "registry.json").exists()


def report_options(project: Path) -> dict:
    return dict(
        evaluations=project / "evaluations", sft=project / "sft", sft_log=project / "logs" / "sft.json",
        arm="grpo", models_dir=project / "models", logs_dir=project / "logs", metrics=project / "eval.json",
        arms_report=project / "arms.json", predictions=project / "predictions.jsonl", plots=project / "plots",
        sampled_metrics=project / "sampled.json",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("log", "text", "wrong"),
    [("grpo.json", '[{"step": 1, "loss"', "grpo.json: not valid JSON (cut short?)"),
     ("sft.json", '{"a": 1}', "sft.json: input should be a valid list")],
    ids=["truncated-grpo-log", "sft-log-not-a-list"],
)  # fmt: skip
def test_report_refuses_a_broken_log_before_comparing(project, log, text, wrong):
    (project / "logs" / "grpo.json").write_text("[]\n")
    (project / "logs" / log).write_text(text)
    write_json(project / "eval.json", EVALUATION)
    line = failed_stage(project, "report", **report_options(project))
    assert wrong in line and "dvc repro -f " in line
    assert "report:" not in line and json.loads((project / "eval.json").read_text()) == EVALUATION


def test_report_refuses_a_model_evaluation_of_the_wrong_shape(project):
    """A model's scores.json that says it was evaluated without its pass@k counts (pass_k on) is refused
    in one line naming the file and the stage that remakes it; nothing is written."""
    (project / "logs" / "grpo.json").write_text("[]\n")
    for model in ("base", "sft", "grpo"):
        folder = project / "evaluations" / model
        folder.mkdir(parents=True)
        (folder / "predictions.jsonl").write_text("")
        (folder / "suites.jsonl").write_text("")
        write_json(folder / "scores.json", {"evaluated": False, "reason": "off"})
    write_json(project / "evaluations" / "sft" / "scores.json", {"evaluated": True, "pass_k": 2})
    line = failed_stage(project, "report", **report_options(project))
    assert "evaluations/sft/scores.json" in line and "exactly when pass_k is on" in line
    assert line.endswith("run `dvc repro -f evaluate@sft`") and not (project / "eval.json").exists()


@pytest.mark.parametrize("broken", ["config.json", "tokenizer.json"])
def test_prepare_refuses_a_truncated_base_model_file(project, broken):
    path = project / "base" / broken
    path.write_text(path.read_text()[:50])
    (project / "raw.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in read_jsonl(project / "data" / "train.jsonl"))
    )
    line = failed_stage(
        project, "prepare", raw=project / "raw.jsonl", base=project / "base", out=project / "prepared",
        report=project / "data.json",
    )  # fmt: skip
    assert f"{project / 'base'}: {broken}: not valid JSON (cut short?)" in line
    assert line.endswith("run `dvc repro -f model`") and not (project / "prepared").exists()


def train_options(project: Path) -> dict:
    return dict(
        arm="grpo", start="sft", data=project / "data", heldout=project / "data", base=project / "base",
        sft=project / "sft", out=project / "models" / "grpo", log=project / "logs" / "grpo.json",
        checkpoints=project / "ck", curve=project / "curve.json",
    )  # fmt: skip


def test_train_refuses_an_sft_adapter_config_without_its_fields(project):
    (project / "sft" / "adapter_config.json").write_text("{}")
    line = failed_stage(project, "train", **train_options(project))
    assert "adapter_config.json: peft_type: field required" in line and line.endswith("`dvc repro -f sft`")
    assert not (project / "models" / "grpo").exists() and not (project / "ck").exists()


def test_train_refuses_a_selected_row_without_its_answer(project):
    rows = read_jsonl(project / "data" / "train.jsonl")
    del rows[3]["answer"]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    line = failed_stage(project, "train", **train_options(project))
    assert "train.jsonl, line 4: answer: field required; run `dvc repro -f select`" in line
    assert not (project / "models" / "grpo").exists()


# --- full and read-only disks --------------------------------------------------------------------------


def mounted(tmp_path: Path, *options: str) -> Path:
    """A real file system at tmp_path/disk (a tmpfs, or a read-only bind mount); skipped where this user
    may not mount."""
    where = tmp_path / "disk"
    where.mkdir()
    result = subprocess.run(["mount", *options, str(where)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")
    return where


@pytest.fixture
def small_disk(tmp_path):
    where = mounted(tmp_path, "-t", "tmpfs", "-o", "size=64k", "tmpfs")
    yield where
    subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def read_only(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "eval.json").write_text('{"old": true}')
    with sqlite3.connect(source / "mlflow.db") as database:
        database.execute("create table t (x)")
    where = mounted(tmp_path, "--bind", str(source))
    subprocess.run(["mount", "-o", "remount,ro,bind", str(where)], check=True)
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_outputs_written_together_appear_together_or_not_at_all_on_a_full_disk(small_disk):
    write_json(small_disk / "eval.json", {"old": True})
    with pytest.raises(DiskFull, match=f"no space left on the device while writing {small_disk / 'plots'}"):
        with together() as output:
            write_json(output(small_disk / "sampled.json"), {"new": True})
            folder = output(small_disk / "plots")
            folder.mkdir()
            (folder / "big.png").write_bytes(b"x" * 200_000)
            write_json(output(small_disk / "eval.json"), {"new": True})
    assert sorted(p.name for p in small_disk.iterdir()) == ["eval.json"]
    assert json.loads((small_disk / "eval.json").read_text()) == {"old": True}


def test_a_read_only_place_is_one_line_and_the_old_output_stays(read_only):
    with pytest.raises(ReadOnly, match=f"cannot write {read_only / 'eval.json'}: read-only file system"):
        write_json(read_only / "eval.json", {"new": True})
    assert (read_only / "eval.json").read_text() == '{"old": true}'


def test_a_stage_on_a_read_only_project_fails_in_one_line(project, read_only):
    line = failed_stage(
        project, "prepare", raw=project / "data" / "train.jsonl", base=project / "base",
        out=read_only / "prepared", report=read_only / "data.json",
    )  # fmt: skip
    assert line.startswith("error: cannot write ") and "read-only file system" in line


def test_a_full_sqlite_store_is_one_line(small_disk):
    database = sqlite3.connect(small_disk / "mlflow.db")
    database.execute("create table t (x blob)")
    with pytest.raises(sqlite3.OperationalError) as found:
        for _ in range(100):
            database.execute("insert into t values (?)", (b"x" * 4096,))
            database.commit()
    database.close()
    failure = write_failure(RuntimeError("(sqlite3.OperationalError) database or disk is full"))
    assert isinstance(write_failure(found.value), DiskFull) and isinstance(failure, DiskFull)


def test_a_read_only_sqlite_store_is_one_line(read_only):
    database = sqlite3.connect(read_only / "mlflow.db")
    with pytest.raises(sqlite3.OperationalError) as found:
        database.execute("insert into t values (1)")
        database.commit()
    database.close()
    assert isinstance(write_failure(found.value), ReadOnly)


@pytest.fixture
def freeze():
    """`freeze(folder)`: the folder read-only from now on, in place (a read-only bind mount over itself, so
    every absolute path recorded in it still holds); skipped where this user may not mount."""
    frozen: list[Path] = []

    def freeze_folder(folder: Path) -> None:
        result = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount here: {result.stderr.strip()}")
        frozen.append(folder)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)

    yield freeze_folder
    for folder in reversed(frozen):  # lazily: a model loaded in this process may still map its files
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def in_project(project: Path, command: list[str], **env: str) -> subprocess.CompletedProcess:
    """A real command run in `project` as a user runs it there: its own SQLite MLflow store and cache
    (`project_env`), this checkout's code."""
    return subprocess.run(
        command, cwd=project, capture_output=True, text=True,
        env={**project_env(project), "PYTHONPATH": str(ROOT), **env},
    )  # fmt: skip


def last_line(result: subprocess.CompletedProcess) -> str:
    """The line a command failed with (exit status 1, no traceback); a trainer may warn before it."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def test_sft_on_a_full_disk_fails_in_one_line_and_the_previous_adapter_stays_whole(
    tmp_path, tiny_model, small_disk
):
    project = stage_project(
        tmp_path / "project", tiny_model, sft={"max_steps": 2, "batch_size": 4, "eval_every": 0}
    )
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")  # the run logs its data where dvc.yaml puts it
    (project / "data" / "prepared").mkdir()
    for name in ("train.jsonl", "heldout.jsonl"):
        shutil.copy(project / "data" / name, project / "data" / "prepared" / name)
    previous = small_disk / "sft"  # the last run's whole output, on a disk now full
    previous.mkdir()
    write_manifest(previous, AdapterManifest(stage="sft", trained=False, reason="sft.max_steps was 0"))
    before = (previous / "rlvr_adapter.json").read_text()
    with pytest.raises(OSError), open(small_disk / "filler", "wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    command = stage_command(
        project, "sft", data=project / "data" / "prepared", base=project / "base", out=previous,
        checkpoints=project / "ck", log=project / "logs" / "sft.json", curve=project / "logs" / "curve.json",
    )  # fmt: skip
    result = in_project(project, command)
    assert last_line(result).startswith(f"error: no space left on the device while writing {previous}")
    assert [p.name for p in previous.iterdir()] == ["rlvr_adapter.json"]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "sft"]  # no half-saved adapter left
    assert (previous / "rlvr_adapter.json").read_text() == before
    assert (project / "logs" / "sft.json").read_text() == "[]\n"  # the log goes with its adapter
    assert list(project.glob("ck/sft-*/checkpoint-2"))  # the steps trained: the rerun resumes from them


def registrable(project: Path, tiny_model: Path) -> Path:
    """The register stage's inputs as the stages before it leave them: a trained GRPO adapter and its
    manifest, the evaluation and its completions, the fetch report."""
    from tests.test_versions import make_adapter

    adapter = make_adapter(tiny_model, project / "models" / "grpo", seed=1)
    write_manifest(adapter, AdapterManifest(stage="train", trained=True, arm="grpo", steps=2, train_rows=16))
    write_json(project / "eval.json", EVALUATION)
    write_json(project / "fetch.json", FETCHED)
    completions = [
        {"model": model, "problem": row["problem"], "answer": row["answer"], "completion": "2", "correct": ok}
        for row, ok in zip(ROWS[16:20], [True, True, False, False], strict=True) for model in ("base", "grpo")
    ]  # fmt: skip
    write_jsonl(completions, project / "predictions.jsonl")
    (project / "plots").mkdir()
    return project


def test_register_with_a_full_tmpdir_fails_in_one_line_and_registers_nothing(
    tmp_path, tiny_model, small_disk
):
    project = registrable(stage_project(tmp_path / "project", tiny_model), tiny_model)
    write_json(project / "registry.json", {"previous": True})
    command = stage_command(project, "register", **register_options(project))
    line = last_line(in_project(project, command, TMPDIR=str(small_disk)))  # MLflow stages its copies there
    assert line.startswith("error: no space left on the device") and line.endswith("then run again")
    assert json.loads((project / "registry.json").read_text()) == {"previous": True}
    assert MlflowClient(f"sqlite:///{project / 'mlflow.db'}").search_model_versions() == []
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []  # its temporary copies removed


# --- rlvr ask and rlvr promote ------------------------------------------------------------------------


@pytest.fixture
def version(tmp_path, monkeypatch, tiny_model) -> Path:
    """Version 1 of `m` in a real SQLite MLflow registry in tmp_path (its adapter, with its tokenizer as
    the train stage saves it, in tmp_path/adapter), the cache in tmp_path/cache."""
    from tests.test_versions import make_adapter, register_adapter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    adapter = make_adapter(tiny_model, tmp_path / "adapter", seed=1)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_model / name, adapter / name)
    register_adapter(adapter, tiny_model)
    return tmp_path


def ask():
    return CliRunner().invoke(app, ["ask", "What is 1 + 1?", "--model", "models:/m/1"])


def test_ask_fetches_a_version_again_when_its_cache_stamp_was_cut_short(version):
    copy = local_copy(store.client(), "m", 1)
    stamp = copy.with_name(f"{copy.name}.json")
    stamp.write_text(stamp.read_text()[:40])  # a kill, or a full disk, while it was written
    result = ask()
    assert result.exit_code == 0 and result.exception is None, result.output
    assert f"the cache stamp of m v1 ({stamp}) cannot be read: fetching it again" in result.output
    assert read_json(stamp, None, CacheStamp).digest == hash_path(copy)
    assert hash_path(Path(read_mlmodel(copy)[0][ADAPTER])) == hash_path(version / "adapter")


def test_ask_with_a_full_cache_fails_in_one_line_and_caches_nothing(version, monkeypatch, small_disk):
    monkeypatch.setenv("RLVR_CACHE", str(small_disk))
    result = ask()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    line = one_line(result.stdout)  # below MLflow's download progress on stderr
    assert line.startswith(f"error: no space left on the device while writing {small_disk}")
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []  # no half copy keeps the disk full


def test_ask_on_a_read_only_cache_answers_from_a_whole_copy_and_otherwise_fails_in_one_line(
    version, monkeypatch, freeze
):
    copy = local_copy(store.client(), "m", 1)
    (version / "cache" / "empty").mkdir()
    freeze(version / "cache")
    result = ask()  # reading a verified copy writes nothing
    assert result.exit_code == 0 and result.exception is None, result.output
    monkeypatch.setenv("RLVR_CACHE", str(version / "cache" / "empty"))
    result = ask()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    line = one_line(result.output)
    assert line.startswith(f"error: cannot write {version / 'cache' / 'empty'}") and "read-only" in line
    assert hash_path(copy) == json.loads(copy.with_name(f"{copy.name}.json").read_text())["digest"]


def test_promote_on_a_read_only_store_fails_in_one_line_and_moves_no_alias(tmp_path, monkeypatch, freeze):
    from tests.test_registry import BASELINE, CLEAR, add_version

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("{}\n")
    mlflow_client = store.client()
    add_version(mlflow_client, BASELINE)
    mlflow_client.set_registered_model_alias("m", "champion", "1")
    add_version(mlflow_client, CLEAR)  # clearly better: promote would move champion to it
    freeze(tmp_path)
    rlvr = str(Path(sys.executable).parent / "rlvr")  # a process of its own: nothing opened before the freeze
    result = subprocess.run([rlvr, "promote", "--name", "m", "--margin", "0"], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = one_line(result.stdout)
    assert line == (
        "error: cannot write: read-only ((sqlite3.OperationalError) attempt to write a readonly database); "
        "make it writable, then run again"
    )
    assert mlflow_client.get_registered_model("m").aliases == {"champion": 1, "challenger": 2}
