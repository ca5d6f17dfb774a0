"""The promotion gate, rollback and the tracking URI, on a real SQLite-backed MLflow registry.

Versions are registered the way the register stage leaves them (a run, a version of it, per-problem
held-out results stored through `registry.record_heldout`), with synthetic results: no training needed.
"""

from __future__ import annotations

import json
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


def add_version(client: MlflowClient, correct: list[bool], name: str = "m", set_name: str = "a") -> int:
    """A registered version whose run holds its per-problem results on held-out set `set_name`."""
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    run = client.create_run(runs.experiment_id(client))
    created = client.create_model_version(name, source=Path.cwd().as_uri(), run_id=run.info.run_id)
    version = int(created.version)
    results = [
        {"id": f"{set_name}{i}", "problem": f"{set_name} {i} + 1", "answer": str(i + 1), "correct": ok}
        for i, ok in enumerate(correct)
    ]
    registry.record_heldout(client, name, version, results)
    client.set_registered_model_alias(name, registry.CHALLENGER, str(version))
    return version


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
