"""The promotion gate, rollback and the tracking URI, on a real SQLite-backed MLflow registry.

Versions are registered the way the register stage leaves them (a run, a version of it, per-problem
held-out results stored through `registry.record_heldout`), with synthetic results: no training needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from rlvr.cli import app
from rlvr.evaluation.predictions import set_fingerprint
from rlvr.mlops import registry, runs, store
from rlvr.mlops.registry import ACCURACY_TAG, HELDOUT_SET_TAG, HISTORY_TAG, ROLLED_BACK_TAG, RegistryError


@pytest.fixture
def client(tmp_path, monkeypatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return store.client()


def add_version(
    client: MlflowClient, correct: list[bool], name: str = "m", set_name: str = "a", start: dict | None = None
) -> int:
    """A registered version whose run holds its per-problem results on held-out set `set_name`, and, given
    `start`, its comparison with the model its GRPO started from (as the register stage tags it)."""
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    run = client.create_run(runs.experiment_id(client))
    results = [
        {"id": f"{set_name}{i}", "problem": f"{set_name} {i} + 1", "answer": str(i + 1), "correct": ok}
        for i, ok in enumerate(correct)
    ]
    tags, _ = registry.record_heldout(client, run.info.run_id, results)
    if start is not None:
        tags[registry.START_TAG] = json.dumps(start)
    created = client.create_model_version(name, source=Path.cwd().as_uri(), run_id=run.info.run_id, tags=tags)
    client.set_registered_model_alias(name, registry.CHALLENGER, created.version)
    return int(created.version)


def aliases(client: MlflowClient, name: str = "m") -> dict[str, int]:
    return dict(sorted((alias, int(v)) for alias, v in client.get_registered_model(name).aliases.items()))


def decision(client: MlflowClient, version: int, key: str, name: str = "m") -> dict:
    return json.loads(client.get_model_version(name, str(version)).tags[key])


BASELINE = [True] * 50 + [False] * 50
# 5 points better on paper: fixes 10 problems, breaks 5. Within noise on 100 problems.
NOISY = [True] * 45 + [False] * 5 + [True] * 10 + [False] * 40
# 30 points better: fixes 30, breaks none.
CLEAR = [True] * 50 + [True] * 30 + [False] * 20
# clearly worse: 30 of the champion's right answers broken, none fixed (a GRPO run that lost accuracy)
WORSE = [True] * 20 + [False] * 30 + [False] * 50


def test_record_heldout_tags_accuracy_interval_and_set(client):
    version = add_version(client, [True, False, True, True])
    tags = client.get_model_version("m", str(version)).tags
    assert float(tags[ACCURACY_TAG]) == 0.75 and tags["heldout_problems"] == "4"
    assert tags[HELDOUT_SET_TAG] == set_fingerprint(["a0", "a1", "a2", "a3"])
    assert tags["heldout_accuracy_ci"] == "[0.3006, 0.9544]"


def test_first_promotion_makes_the_challenger_champion(client):
    add_version(client, BASELINE)
    change = registry.promote("m", margin=0.1)
    assert change.moved and change.champion == 1
    assert aliases(client) == {"challenger": 1, "champion": 1}
    assert decision(client, 1, "promotion/v1")["decision"] == "no champion yet"


def test_better_on_paper_but_within_noise_is_not_promoted(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, NOISY)
    change = registry.promote("m", margin=0.0)
    assert not change.moved
    assert "kept champion v1; challenger v2: +5.0 points [" in change.message and "n=100" in change.message
    assert aliases(client) == {"challenger": 2, "champion": 1}
    recorded = decision(client, 2, "promotion/v2-vs-v1")
    assert recorded == decision(client, 1, "promotion/v2-vs-v1")  # the same tag on both versions
    assert recorded["decision"] == "kept" and recorded["forced"] is False
    assert recorded["delta"] == pytest.approx(0.05) and recorded["n"] == 100 and recorded["ci_low"] < 0
    assert recorded["p_value"] == pytest.approx(0.3018, abs=1e-4)  # McNemar: 10 fixed, 5 broken
    assert recorded["paired_on"] == "the same held-out set" and "lower bound" in recorded["rule"]
    assert HISTORY_TAG not in client.get_registered_model("m").tags


def test_a_clearly_worse_challenger_never_becomes_champion(client):
    """The gate the recipe issue relies on while GRPO's gain is not shown: a registered GRPO adapter that
    lost accuracy stays challenger, and the champion keeps serving."""
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, WORSE)
    change = registry.promote("m", margin=0.0)
    assert not change.moved and change.champion == 1
    assert aliases(client) == {"challenger": 2, "champion": 1}
    recorded = decision(client, 2, "promotion/v2-vs-v1")
    assert recorded["decision"] == "kept" and recorded["delta"] == pytest.approx(-0.30)
    assert recorded["ci_high"] < 0


def test_clearly_better_is_promoted_and_the_decision_recorded(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR)
    change = registry.promote("m", margin=0.05)
    assert change.moved and (change.previous, change.champion) == (1, 2)
    assert change.message.startswith("m: champion v1 -> v2 (+30.0 points [")
    assert aliases(client) == {"challenger": 2, "champion": 2}
    recorded = decision(client, 2, "promotion/v2-vs-v1")
    assert recorded["decision"] == "promoted" and recorded["ci_low"] > 0.05 and recorded["margin"] == 0.05
    assert json.loads(client.get_registered_model("m").tags[HISTORY_TAG]) == [1]


def test_the_margin_applies_to_the_lower_bound(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR)
    change = registry.promote("m", margin=0.25)  # the lower bound of +30 points on 100 problems is ~21
    assert not change.moved and aliases(client)["champion"] == 1
    assert decision(client, 2, "promotion/v2-vs-v1")["decision"] == "kept"


def test_force_promotes_within_noise_and_says_so(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, NOISY)
    change = registry.promote("m", margin=0.0, force=True)
    assert change.moved and "forced" in change.message
    recorded = decision(client, 2, "promotion/v2-vs-v1")
    assert recorded["forced"] is True and recorded["decision"] == "promoted"
    assert aliases(client) == {"challenger": 2, "champion": 2}


def test_different_heldout_sets_are_refused_without_evaluation(client):
    add_version(client, BASELINE, set_name="a")
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR, set_name="b")
    with pytest.raises(RegistryError, match="unpaired numbers are not compared.*--evaluate-champion"):
        registry.promote("m", margin=0.0)
    assert aliases(client) == {"challenger": 2, "champion": 1}
    assert "promotion/v2-vs-v1" not in client.get_model_version("m", "2").tags


def test_different_heldout_sets_score_the_champion_on_the_challengers(client):
    add_version(client, BASELINE, set_name="a")
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR, set_name="b")
    asked = []

    def score_v1(version, rows):  # v1 scored on set b: right on the first half, as on set a
        asked.append((version, len(rows)))
        return [{"id": row["id"], "correct": i < 50} for i, row in enumerate(rows)]

    change = registry.promote("m", margin=0.0, evaluate=score_v1)
    assert asked == [(1, 100)] and change.moved
    recorded = decision(client, 2, "promotion/v2-vs-v1")
    assert recorded["paired_on"] == "v1 scored now on v2's held-out set"
    assert recorded["delta"] == pytest.approx(0.3) and recorded["heldout_set"] == set_fingerprint(
        [f"b{i}" for i in range(100)]
    )
    # v1's results on set b are stored: the next comparison on set b pairs without scoring again
    registry.rollback("m")
    client.delete_model_version_tag("m", "2", ROLLED_BACK_TAG)
    registry.promote("m", margin=0.0, evaluate=lambda *_: pytest.fail("scored twice"))
    assert aliases(client)["champion"] == 2


def test_rollback_sticks_until_forced(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR)
    registry.promote("m", margin=0.0)
    change = registry.rollback("m", reason="answers in the wrong language")
    assert change.message == "m: champion v2 -> v1 (rolled back)"
    tag = json.loads(client.get_model_version("m", "2").tags[ROLLED_BACK_TAG])
    assert tag["champion_now"] == 1 and tag["reason"] == "answers in the wrong language"

    kept = registry.promote("m", margin=0.0)
    assert not kept.moved and "challenger v2 was rolled back" in kept.message and "--force" in kept.message
    assert aliases(client) == {"challenger": 2, "champion": 1}

    forced = registry.promote("m", margin=0.0, force=True)
    assert forced.moved and aliases(client) == {"challenger": 2, "champion": 2}
    assert ROLLED_BACK_TAG not in client.get_model_version("m", "2").tags
    assert decision(client, 2, "promotion/v2-vs-v1")["overrode_rollback"] == json.dumps(tag)


def test_a_new_challenger_after_a_rollback_is_judged_normally(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, NOISY)
    registry.promote("m", margin=0.0, force=True)
    registry.rollback("m")
    add_version(client, CLEAR)
    assert registry.promote("m", margin=0.0).moved and aliases(client) == {"challenger": 3, "champion": 3}


def test_promoting_the_champion_again_changes_nothing(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    change = registry.promote("m", margin=0.0)
    assert not change.moved and "already champion" in change.message


def test_rollback_walks_back_through_replaced_champions(client):
    add_version(client, [False] * 100)
    registry.promote("m", margin=0.0)
    for correct in (BASELINE, CLEAR):
        add_version(client, correct)
        assert registry.promote("m", margin=0.0).moved
    assert aliases(client)["champion"] == 3
    assert registry.rollback("m").champion == 2
    assert registry.rollback("m").champion == 1
    assert aliases(client) == {"challenger": 3, "champion": 1}
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback("m")


def registry_state(client: MlflowClient, name: str = "m") -> tuple:
    model = client.get_registered_model(name)
    versions = {v.version: v.tags for v in client.search_model_versions(f"name='{name}'")}
    return dict(model.aliases), dict(model.tags), versions


@pytest.mark.parametrize("history", ["not json", '{"a": 1}', '[1, "2"]', "[true]", "[0]"])
def test_rollback_with_a_corrupted_history_tag_changes_nothing(client, history):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR)
    registry.promote("m", margin=0.0)
    client.set_registered_model_tag("m", HISTORY_TAG, history)
    before = registry_state(client)
    with pytest.raises(RegistryError, match=f"tag {HISTORY_TAG} is not a JSON list of version numbers"):
        registry.rollback("m")
    assert registry_state(client) == before


def test_rollback_to_a_deleted_version_changes_nothing(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR)
    registry.promote("m", margin=0.0)
    client.delete_model_version("m", "1")
    before = registry_state(client)
    with pytest.raises(RegistryError, match=r"cannot roll back to v1, it was deleted; nothing was changed"):
        registry.rollback("m")
    assert registry_state(client) == before


def test_errors_name_what_is_missing(client):
    with pytest.raises(RegistryError, match="no registered model 'ghost'"):
        registry.promote("ghost", margin=0.0)
    client.create_registered_model("m")
    with pytest.raises(RegistryError, match="no 'challenger' version"):
        registry.promote("m", margin=0.0)


def test_a_version_without_results_is_not_compared(client):
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    run = client.create_run(runs.experiment_id(client))
    client.create_model_version("m", source=Path.cwd().as_uri(), run_id=run.info.run_id)
    client.set_registered_model_alias("m", registry.CHALLENGER, "2")
    with pytest.raises(RegistryError, match="v2 has no per-problem held-out results"):
        registry.promote("m", margin=0.0)
    assert registry.promote("m", margin=0.0, force=True).moved
    assert decision(client, 2, "promotion/v2-vs-v1")["paired_on"].startswith("no comparison: ")


def test_cli_promote_and_rollback_report_what_they_did(client, tmp_path):
    from tests.conftest import ROOT

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    add_version(client, BASELINE, name="rlvr-math")
    add_version(client, CLEAR, name="rlvr-math")
    client.set_registered_model_alias("rlvr-math", "champion", "1")
    runner = CliRunner()
    result = runner.invoke(app, ["promote", "--margin", "0.4"])
    assert result.exit_code == 0, result.output
    assert "kept champion v1; challenger v2: +30.0 points" in result.output and "p=" in result.output
    result = runner.invoke(app, ["promote"])
    assert result.exit_code == 0 and "champion v1 -> v2" in result.output
    result = runner.invoke(app, ["rollback", "--reason", "too slow"])
    assert result.exit_code == 0 and "champion v2 -> v1 (rolled back)" in result.output
    result = runner.invoke(app, ["promote"])
    assert result.exit_code == 0 and "was rolled back" in result.output
    result = runner.invoke(app, ["promote", "--force"])
    assert result.exit_code == 0 and "champion v1 -> v2 (forced" not in result.output  # it wins anyway
    assert "champion v1 -> v2" in result.output
    result = runner.invoke(app, ["rollback"])
    result = runner.invoke(app, ["rollback"])
    assert result.exit_code == 1 and "no earlier champion" in result.output


def fake_adapter(folder: Path, weights: bytes = b"weights", trained_s: float = 1.0) -> Path:
    """An adapter's files as the registry sees them (it hashes and copies them, never loads them), with a
    manifest that differs from one training to the next."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "adapter_model.safetensors").write_bytes(weights)
    (folder / "rlvr_adapter.json").write_text(json.dumps({"train_runtime_s": trained_s}))
    return folder


def registration(client: MlflowClient, name: str, adapter: Path, start: dict | None = None):
    """The register stage's registration steps, for `name`, on a new pipeline run."""
    run = client.create_run(runs.experiment_id(client))
    predictions = [
        {
            "model": "grpo",
            "problem": f"{i} + 1",
            "answer": str(i + 1),
            "completion": "",
            "correct": i % 2 == 0,
        }
        for i in range(4)
    ]
    return registry.registration_steps(
        model_name=name,
        run_id=run.info.run_id,
        predictions=predictions,
        adapter=adapter,
        base_files={},
        model_config={"base_model": "tiny"},
        tags={"git_commit": "abc"},
        description="test",
        start=start,
    )


def to_the_end(steps):
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def test_a_registration_killed_after_any_write_is_completed_by_the_rerun(client, tmp_path):
    """Stopped after each of its MLflow writes in turn (where a kill can land), then rerun on the same
    adapter, as the register stage reruns: one version, with every tag and the aliases. The name holds a
    quote, which once broke the search that finds the version again."""
    adapter = fake_adapter(tmp_path / "grpo")
    steps = list(registration(client, "full", adapter))
    assert steps[-1] == "registration" and "version" in steps
    for cut, step in enumerate(steps[:-1]):
        name = f"o'brien {cut}"
        killed = registration(client, name, adapter)
        assert [next(killed) for _ in range(cut + 1)][-1] == step  # abandoned there, as by SIGKILL
        if step in steps[steps.index("version") :]:
            assert registry.registered_as(name, adapter) is None  # cut short: not taken as registered
        done = to_the_end(registration(client, name, adapter))
        versions = [v for v in client.search_model_versions() if v.name == name]
        assert [int(v.version) for v in versions] == [1], step
        tags = versions[0].tags
        assert tags[registry.ADAPTER_TAG] == registry.adapter_hash(adapter) and tags["git_commit"] == "abc"
        assert tags[registry.ACCURACY_TAG] == "0.5" and registry.REGISTRATION_TAG in tags
        assert "first registered version is champion" in tags["promotion/v1"]
        assert aliases(client, name) == {"challenger": 1, "champion": 1}
        assert done.version == 1 and done.champion and registry.registered_as(name, adapter) == 1


def test_the_content_hash_covers_weights_and_config_and_params_hash_the_validated_values(tmp_path):
    """Two trainings to the same weights (seed 7, then 7 again) hash alike though their manifests
    differ; and params.yaml rewritten by DVC (comments, quoting, order) hashes as the values it holds."""
    first = fake_adapter(tmp_path / "seed7", trained_s=1.0)
    again = fake_adapter(tmp_path / "seed7-again", trained_s=2.5)
    other = fake_adapter(tmp_path / "seed8", weights=b"other weights")
    assert registry.adapter_hash(first) == registry.adapter_hash(again) != registry.adapter_hash(other)
    written = tmp_path / "a.yaml"
    written.write_text(
        "train:  # the GRPO stage\n  seed: 7\n  learning_rate: 5.0e-06\nregistry:\n  model_name: m\n"
    )
    rewritten = tmp_path / "b.yaml"
    rewritten.write_text("registry:\n  model_name: 'm'\ntrain:\n  learning_rate: 0.000005\n  seed: 7\n")
    changed = tmp_path / "c.yaml"
    changed.write_text("registry:\n  model_name: m\ntrain:\n  learning_rate: 0.000005\n  seed: 8\n")
    assert runs.params_hash(written) == runs.params_hash(rewritten) != runs.params_hash(changed)


# The GRPO adapter against the model it started from, in eval.json: significantly worse (upper bound < 0)
WORSE_THAN_SFT = {
    "from": "sft", "to": "grpo", "delta": -0.2, "ci_low": -0.3, "ci_high": -0.1, "p_value": 1e-4, "n": 100,
    "fixed": 2, "broken": 22,
}  # fmt: skip


def test_a_version_worse_than_its_own_start_never_becomes_champion(client, tmp_path):
    """Better than the champion (+30 points), but significantly below its own SFT adapter: kept out,
    also as the first version, whether registered or promoted; --force overrides it, recorded."""
    add_version(client, BASELINE)
    registry.promote("m", margin=0.0)
    add_version(client, CLEAR, start=WORSE_THAN_SFT)
    kept = registry.promote("m", margin=0.0)
    assert not kept.moved and aliases(client) == {"challenger": 2, "champion": 1}
    assert kept.message == (
        "m: kept champion v1; challenger v2 never becomes champion: it is significantly worse than sft, the "
        "model its GRPO started from (-20.0 points [-30.0, -10.0] on the same 100 held-out problems, 2 "
        "fixed, 22 broken); pass --force to promote it anyway"
    )
    forced = registry.promote("m", margin=0.0, force=True)
    assert (
        forced.moved and "significantly worse" in decision(client, 2, "promotion/v2-vs-v1")["overrode_start"]
    )

    add_version(client, CLEAR, name="first", start=WORSE_THAN_SFT)
    assert not registry.promote("first", margin=0.0).moved and aliases(client, "first") == {"challenger": 1}
    registered = to_the_end(registration(client, "fresh", fake_adapter(tmp_path / "a"), start=WORSE_THAN_SFT))
    assert not registered.champion and aliases(client, "fresh") == {"challenger": 1}
    recorded = decision(client, 1, "promotion/v1", "fresh")["decision"]
    assert recorded.startswith("not champion: it is significantly worse than sft")
    fine = {**WORSE_THAN_SFT, "delta": 0.0, "ci_low": -0.05, "ci_high": 0.05}
    assert to_the_end(registration(client, "ok", fake_adapter(tmp_path / "b"), start=fine)).champion


def test_report_says_the_champion_what_promote_would_do_and_the_counts(client, tmp_path):
    from tests.conftest import ROOT

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (tmp_path / "metrics").mkdir()
    model = {"accuracy": 0.5, "accuracy_ci_low": 0.4, "accuracy_ci_high": 0.6, "format": 1.0}
    evaluation = {
        "sft": {**model, "mean_length": 9.0, "problems": 100},
        "grpo": {**model, "mean_length": 9.0, "problems": 100},
        "comparisons": [
            {**WORSE_THAN_SFT, "delta": 0.0, "ci_low": -0.1, "ci_high": 0.1, "fixed": 12, "broken": 7}
        ],
    }
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(evaluation))
    arms = {"arms": {"grpo": {"spent": {}, "tied": 0.41}}, "conclusions": [], "warnings": []}
    (tmp_path / "metrics" / "arms.json").write_text(json.dumps(arms))
    add_version(client, BASELINE, name="rlvr-math")
    registry.promote("rlvr-math", margin=0.0)
    add_version(client, NOISY, name="rlvr-math")
    before = registry_state(client, "rlvr-math")
    result = CliRunner().invoke(app, ["report"], terminal_width=80)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "sft -> grpo: 12 problems fixed, 7 broken, of 100" in text
    assert "GRPO groups whose rewards all tied (no learning signal): grpo 41%" in text
    assert "registry rlvr-math: champion v1, challenger v2" in text
    assert "`rlvr promote` would change nothing: challenger v2: +5.0 points [" in text
    assert "10 fixed, 5 broken" in text
    assert not [line for line in result.output.splitlines() if len(line) > 80]
    assert registry_state(client, "rlvr-math") == before  # the gate computed, nothing recorded


def test_a_moved_project_says_how_to_relocate_and_a_shared_store_keeps_one_artifact_root(
    tmp_path, monkeypatch
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    add_version(store.client(), BASELINE)
    registry.promote("m", margin=0.0)
    add_version(store.client(), CLEAR)
    moved = tmp_path / "elsewhere" / "project"
    shutil.move(project, moved)
    monkeypatch.chdir(moved)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{moved / 'mlflow.db'}")
    for args in (["ask", "1+1?", "--model", "models:/m@champion"], ["promote", "--name", "m"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert f"records its artifacts in {project / 'mlruns'}, not beside it in {moved / 'mlruns'}" in (
            " ".join(result.output.split())
        )
    relocate = " ".join(result.output.split()).split("lead here: ")[1]
    subprocess.run(relocate, shell=True, check=True)  # the message's own instructions
    assert registry.promote("m", margin=0.0).moved  # the held-out results are read where they are now

    shared = tmp_path / "shared"  # two projects, one store: the artifacts go beside the store
    shared.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared / 'mlflow.db'}")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        mlflow_client = store.client()
        run = mlflow_client.create_run(runs.experiment_id(mlflow_client))
        mlflow_client.log_text(run.info.run_id, name, f"{name}.txt")
    assert sorted(p.name for p in (shared / "mlruns").rglob("*.txt")) == ["a.txt", "b.txt"]
    assert not [*(tmp_path / "a").rglob("*.txt"), *(tmp_path / "b").rglob("*.txt")]


def test_a_registry_name_mlflow_refuses_fails_check_params(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("registry:\n  model_name: a/b\n")
    result = CliRunner().invoke(app, ["check-params", str(params)])
    assert result.exit_code == 1 and "'registry.model_name'" in result.output
    assert "Names cannot contain '/' or ':'" in result.output and "Traceback" not in result.output
    params.write_text("registry:\n  model_name: o'brien v2.1\n")  # MLflow takes it; rlvr quotes nothing
    assert CliRunner().invoke(app, ["check-params", str(params)]).exit_code == 0


def test_the_description_counts_what_trained(tmp_path):
    from rlvr.config.schema import Params
    from tasks.register import describe

    tags = {"data_md5": "d" * 32, "params_hash": "p" * 64, "git_commit": "g" * 40}
    grpo = {"from_sft": True, "steps": 30, "train_rows": 460}
    sft = {"steps": 12, "examples": 32}
    text = describe(Params(), {"name": "tiny", "revision": None}, grpo, sft, tags, None)
    assert "30 GRPO steps on 460 training problems" in text
    assert "after an SFT warm-up of 12 steps on 32 examples" in text
    without = describe(
        Params(), {"name": "tiny", "revision": "abc"}, {**grpo, "from_sft": False}, {}, tags, None
    )
    assert "SFT" not in without and "tiny@abc" in without


def test_the_description_names_the_commit_an_unpinned_hub_dataset_was_fetched_at():
    from rlvr.config.schema import Params
    from tasks.register import describe

    tags = {"data_md5": "d" * 32, "params_hash": "p" * 64, "git_commit": "g" * 40}
    base, grpo = {"name": "tiny", "revision": None}, {"steps": 3, "train_rows": 9}
    hub = {"data": {"source": "hub", "hub": {"path": "org/math", "split": "train"}}}
    unpinned = describe(Params(**hub), base, grpo, {}, tags, "c0ffee12")
    assert "of org/math@c0ffee12 (train)" in unpinned and "main" not in unpinned
    hub["data"]["hub"]["revision"] = "v1"  # a pinned revision is what params asked for
    assert "of org/math@v1 (train)" in describe(Params(**hub), base, grpo, {}, tags, "c0ffee12")
