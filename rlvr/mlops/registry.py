"""The MLflow registry: each trained adapter as a registered version, and the aliases that serve one.

Aliases carry the promotion state: `challenger` is the newest registered version, `champion` the one in
use. Each version stores its per-problem held-out results (an artifact of its run, named by a fingerprint
of its held-out set) so that `promote` compares challenger and champion on the same problems, paired by
problem id, and moves `champion` only when the lower bound of the accuracy delta's 95% interval exceeds
the margin. The decision is a tag on both versions. The champions it replaced are kept, newest last, in
the registered model's `champion_history` tag, which `rollback` pops; a version rolled back is tagged
`rolled_back` and is not promoted again unless forced. A version whose held-out accuracy is significantly
below that of the model its GRPO started from (the paired comparison in eval.json) never becomes champion
unless forced, not even as the first version.

Registration is one idempotent transaction: the version is created with every tag (its adapter's content
hash among them) in one call, and the steps after it (aliases, the first champion) end with the
`registration` tag. A rerun on the same adapter that finds a version without that tag (the process was
killed halfway) completes it; one that finds it complete registers nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rlvr.errors import RlvrError
from rlvr.evaluation.predictions import model_results, set_fingerprint, side_by_side
from rlvr.hashing import hash_path
from rlvr.mlops.runs import heldout_metrics
from rlvr.mlops.store import check_artifacts, client, storing
from rlvr.training.weights import ADAPTER_CONFIG

# The package every version carries as its code, and the file MLflow runs to load it (models-from-code).
PACKAGE = Path(__file__).resolve().parents[1]
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"
ACCURACY_TAG = "heldout_accuracy"
HELDOUT_SET_TAG = "heldout_set"  # fingerprint of the problems the version was evaluated on
ROLLED_BACK_TAG = "rolled_back"
ADAPTER_TAG = "adapter_sha256"  # the registered adapter's content hash: one version per adapter
START_TAG = "heldout_vs_start"  # the paired comparison with the model its GRPO started from (eval.json)
REGISTRATION_TAG = "registration"  # set last: a version without it was cut short, and a rerun completes it
DECISION_PREFIX = "promotion"  # tags promotion/v<challenger>-vs-v<champion> on both versions
MODEL_DESCRIPTION = (
    "LoRA adapters trained by rlvr (GRPO with verifiable math rewards), one version per pipeline run. "
    "`champion` is the version in use (rlvr ask, mlflow models serve models:/{name}@champion); "
    "`challenger` is the newest. `rlvr promote` moves champion to the challenger when it is better on the "
    "same held-out problems beyond noise; `rlvr rollback` moves it back."
)

# (champion version, the challenger's held-out rows) -> the champion's {"id", "correct"} on those rows
Evaluator = Callable[[int, list[dict]], list[dict]]


class RegistryError(RlvrError):
    """A registry operation that cannot be done (no such model, no challenger, nothing to roll back to)."""


@dataclass(frozen=True)
class Registered:
    run_id: str
    experiment_id: str
    model_name: str
    version: int
    champion: bool

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def settings(params_file: Path, name: str | None = None, margin: float | None = None) -> tuple[str, float]:
    """The registered model's name and the promotion margin: those given (on the command line, in the
    Prefect UI), else params' `registry` section."""
    import math

    from rlvr.config.schema import check_model_name, load_params

    if name is not None and not name.strip():
        raise RegistryError(
            "the model name is empty; give a registered model's name, or leave it out for registry.model_name"
        )
    if margin is not None and not (math.isfinite(margin) and 0 <= margin < 1):
        raise RegistryError(f"margin {margin} must be a fraction in [0, 1) (0.02 is 2 points)")
    if name is not None:
        try:
            check_model_name(name)
        except ValueError as exc:
            raise RegistryError(f"--name {name!r}: {exc}") from None
    registry = load_params(params_file).registry
    return name or registry.model_name, registry.promote_margin if margin is None else margin


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def requirements() -> list[str]:
    """What a fresh environment installs to load a version: the versions that trained it (without a
    local build tag such as `+cpu`, which no package index serves). rlvr itself travels in the
    version's code."""
    from importlib.metadata import version

    names = ["torch", "transformers", "peft", "accelerate", "safetensors", "tqdm", "pyyaml", "pydantic"]
    names += ["gguf", "math-verify", "mlflow"]
    return [f"{name}=={version(name).split('+')[0]}" for name in names]


def log_evaluation(run_id: str, evaluation: dict, predictions: list[dict], plots: Sequence[Path]) -> None:
    """Log the held-out evaluation into run `run_id` (the pipeline's parent run), which ends FINISHED:
    the metrics, the predictions, the models side by side, the plots."""
    import mlflow
    import pandas as pd

    from rlvr.evaluation.predictions import models_and_pairs

    client()  # the checked store is the fluent API's too
    models, pairs = models_and_pairs(evaluation)
    with storing(f"the held-out evaluation (run {run_id})"), mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"heldout/{k}": v for k, v in heldout_metrics(evaluation).items()})
        if predictions:
            mlflow.log_table(pd.DataFrame(predictions), artifact_file="predictions.json")
            rows = side_by_side(predictions, models, pairs)
            mlflow.log_table(pd.DataFrame(rows), artifact_file="side_by_side.json")
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")


def adapter_hash(adapter: Path) -> str:
    """The content hash of an adapter's weights and config, the files that make it the model it is: an
    identical retrain hashes alike, whatever its manifest says about when and how long it trained."""
    files = [adapter / ADAPTER_CONFIG, *sorted(adapter.glob("adapter_model*.safetensors"))]
    listing = "".join(f"{file.name}:{hash_path(file)}\n" for file in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def _holding(mlflow_client, model_name: str, content: str):
    """The oldest version of `model_name` that holds the adapter with this content hash, if any. The
    search names only the hash (hex digits), never the model's name, which may hold any quote."""
    found = mlflow_client.search_model_versions(f"tags.`{ADAPTER_TAG}` = '{content}'")
    return min((v for v in found if v.name == model_name), key=lambda v: int(v.version), default=None)


def registered_as(model_name: str, adapter: Path) -> int | None:
    """The version of `model_name` that already holds this very adapter, completely registered, if any:
    a pipeline rerun on the same adapter registers nothing new (one cut short is completed by `register`)."""
    found = _holding(client(), model_name, adapter_hash(adapter))
    return int(found.version) if found is not None and REGISTRATION_TAG in found.tags else None


def start_problem(tags: dict[str, str]) -> str | None:
    """Why a version may not become champion, from its tags: its held-out accuracy is significantly below
    that of the model its GRPO started from (upper bound of the paired 95% interval below 0)."""
    from rlvr.evaluation.stats import points

    raw = tags.get(START_TAG)
    if not raw:
        return None
    start = json.loads(raw)
    if start["ci_high"] >= 0:
        return None
    return (
        f"it is significantly worse than {start['from']}, the model its GRPO started from "
        f"({points(start)} on the same {start['n']} held-out problems, {start['fixed']} fixed, "
        f"{start['broken']} broken)"
    )


def register(**registration) -> Registered:
    """Register an adapter: `registration_steps`, run to the end."""
    steps = registration_steps(**registration)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def registration_steps(
    *,
    model_name: str,
    run_id: str,
    predictions: list[dict],
    adapter: Path,
    base_files: dict[str, Path],
    model_config: dict,
    tags: dict[str, str],
    description: str,
    start: dict | None = None,
    registered_model: str = "grpo",
) -> Generator[str, None, Registered]:
    """Log the adapter into run `run_id` as a pyfunc model and register it as a version of `model_name`
    with alias `challenger` (and `champion` if there is none and the version is not worse than `start`,
    the comparison with the model its GRPO started from), its per-problem results of `registered_model`
    kept for the promotion gate.

    It yields after each write to MLflow, naming it: a kill can only land between two of them, and a rerun
    on the same adapter from any of those points ends with the same single version, tagged and aliased
    (a test stops it at each). The version is created with all its tags in one call, so the content hash
    that finds it again is never missing; each step after it is idempotent."""
    import mlflow

    mlflow_client = client()
    content = adapter_hash(adapter)
    found = _holding(mlflow_client, model_name, content)
    if found is None:
        results = model_results(predictions, registered_model)
        heldout, summary = {}, ""
        if results:
            with storing(f"the held-out results (run {run_id})"):
                heldout, summary = record_heldout(mlflow_client, run_id, results)
            yield "held-out results"
        with storing(f"the adapter's model (run {run_id})"), mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="adapter",
                python_model=str(PACKAGE / "serving" / "pyfunc.py"),
                code_paths=[str(PACKAGE)],
                artifacts={"adapter": str(adapter), **{k: str(v) for k, v in base_files.items()}},
                model_config=model_config,
                pip_requirements=requirements(),
            )
        yield "model logged"
        if not _model_exists(mlflow_client, model_name):
            mlflow_client.create_registered_model(model_name)
            yield "registered model"
        version_tags = {
            **tags,
            **heldout,
            **({START_TAG: json.dumps(start)} if start else {}),
            ADAPTER_TAG: content,
        }
        found = mlflow_client.create_model_version(
            model_name,
            source=info.model_uri,
            run_id=run_id,
            tags=version_tags,
            description=f"{description} {summary}".strip(),
            model_id=info.model_id,
        )
        yield "version"
    version = int(found.version)
    mlflow_client.update_registered_model(model_name, description=MODEL_DESCRIPTION.format(name=model_name))
    yield "model description"
    mlflow_client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    yield "challenger"
    champion = _alias_version(mlflow_client, model_name, CHAMPION)
    if champion in (None, version):
        problem = start_problem(found.tags)
        if problem is None:
            mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(version))
            yield "champion"
            champion = version
        verdict = "first registered version is champion" if problem is None else f"not champion: {problem}"
        _decide(mlflow_client, model_name, version, None, {"decision": verdict})
        yield "first decision"
    mlflow_client.set_model_version_tag(model_name, str(version), REGISTRATION_TAG, f"complete {_now()}")
    yield "registration"
    info = mlflow_client.get_run(found.run_id).info
    return Registered(info.run_id, info.experiment_id, model_name, version, champion=champion == version)


def record_heldout(mlflow_client, run_id: str, results: Sequence[dict]) -> tuple[dict[str, str], str]:
    """Store a version's per-problem held-out results ({"id", "problem", "answer", "correct"} each) as an
    artifact of its run; returns the version's tags that say their set's fingerprint and accuracy, and
    the accuracy with its 95% interval, in words."""
    from rlvr.evaluation.stats import accuracy_interval

    fingerprint = set_fingerprint([r["id"] for r in results])
    _store_results(mlflow_client, run_id, fingerprint, results)
    correct = [bool(r["correct"]) for r in results]
    accuracy = sum(correct) / len(correct)
    low, high = accuracy_interval(correct)
    tags = {
        ACCURACY_TAG: str(accuracy),
        "heldout_accuracy_ci": f"[{low:.4f}, {high:.4f}]",
        "heldout_problems": str(len(results)),
        HELDOUT_SET_TAG: fingerprint,
    }
    summary = (
        f"Held-out accuracy {accuracy:.1%} (95% interval {low:.1%} to {high:.1%}) on {len(results)} "
        f"problems (set {fingerprint})."
    )
    return tags, summary


def _results_path(fingerprint: str) -> str:
    return f"heldout/{fingerprint}.json"


def _version_run(mlflow_client, model_name: str, version: int) -> str | None:
    """The run that holds a version's files, its artifact location checked (`check_artifacts`)."""
    run_id = mlflow_client.get_model_version(model_name, str(version)).run_id
    if run_id:
        check_artifacts(mlflow_client.get_run(run_id).info.artifact_uri)
    return run_id or None


def _store_results(mlflow_client, run_id: str, fingerprint: str, rows: Sequence[dict]) -> None:
    check_artifacts(mlflow_client.get_run(run_id).info.artifact_uri)
    mlflow_client.log_text(run_id, json.dumps(list(rows), indent=1), _results_path(fingerprint))


def _load_results(mlflow_client, model_name: str, version: int, fingerprint: str) -> list[dict] | None:
    """A version's results on the held-out set `fingerprint`, if it was ever scored on it."""
    import tempfile

    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
    from mlflow.exceptions import MlflowException

    run_id = _version_run(mlflow_client, model_name, version)
    if not run_id:
        return None
    # one small file: MLflow's progress bar would only land in the middle of `promote`'s and `report`'s lines
    os.environ.setdefault(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, "false")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow_client.download_artifacts(run_id, _results_path(fingerprint), tmp)
        except (MlflowException, OSError):
            return None
        return json.loads(Path(path).read_text())


def _model_exists(mlflow_client, model_name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return False
    return True


def _alias_version(mlflow_client, model_name: str, alias: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        return int(mlflow_client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _history(mlflow_client, model_name: str) -> list[int]:
    raw = mlflow_client.get_registered_model(model_name).tags.get(HISTORY_TAG, "[]")
    try:
        history = json.loads(raw)
    except ValueError:
        history = None
    if not isinstance(history, list) or not all(type(v) is int and v > 0 for v in history):
        raise RegistryError(
            f"{model_name}: tag {HISTORY_TAG} is not a JSON list of version numbers ({raw!r}); nothing was "
            "changed. Fix it (e.g. [1, 3]) or delete it in the MLflow UI (Models > "
            f"{model_name} > Tags) or with MlflowClient().set_registered_model_tag"
        )
    return history


def _require_model(mlflow_client, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    from rlvr.mlops.store import public_uri, tracking_uri

    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        names = [m.name for m in mlflow_client.search_registered_models()]
        raise RegistryError(
            f"no registered model '{model_name}' at {public_uri(tracking_uri())}; "
            f"registered models: {names or 'none'}"
        ) from None


def _version_tags(mlflow_client, model_name: str, version: int) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version(model_name, str(version)).tags
    except MlflowException:
        raise RegistryError(
            f"{model_name} v{version} does not exist (deleted?); nothing was changed"
        ) from None


@dataclass(frozen=True)
class AliasChange:
    """What `promote` or `rollback` did; `message` says it in a sentence, `decision` is what was recorded."""

    moved: bool
    champion: int
    previous: int | None
    message: str
    decision: dict | None = None


def _decide(mlflow_client, model_name: str, challenger: int, champion: int | None, decision: dict) -> dict:
    """Record a promotion decision as the same tag on both versions."""
    record = {"challenger": challenger, "champion": champion, **decision, "at": _now()}
    key = f"{DECISION_PREFIX}/v{challenger}" + (f"-vs-v{champion}" if champion else "")
    for version in {challenger, champion} - {None}:
        mlflow_client.set_model_version_tag(model_name, str(version), key, json.dumps(record))
    return record


def _paired(
    mlflow_client, model_name: str, champion: int, challenger: int, evaluate: Evaluator | None
) -> tuple[dict, str]:
    """The paired comparison of challenger against champion on the challenger's held-out problems, and
    how the champion's results were obtained. Refuses (RegistryError) where it cannot pair them."""
    from rlvr.evaluation.stats import paired_comparison

    tags = _version_tags(mlflow_client, model_name, challenger)
    fingerprint = tags.get(HELDOUT_SET_TAG)
    theirs = _load_results(mlflow_client, model_name, challenger, fingerprint) if fingerprint else None
    if not theirs:
        raise RegistryError(
            f"{model_name} v{challenger} has no per-problem held-out results, so it cannot be compared "
            "with the champion; register it again with `dvc repro register` (or pass --force)"
        )
    ours = _load_results(mlflow_client, model_name, champion, fingerprint)
    source = "the same held-out set"
    if ours is None:
        champion_set = _version_tags(mlflow_client, model_name, champion).get(HELDOUT_SET_TAG, "unknown")
        if evaluate is None:
            raise RegistryError(
                f"{model_name}: champion v{champion} was evaluated on held-out set {champion_set}, "
                f"challenger v{challenger} on {fingerprint} ({len(theirs)} problems); unpaired numbers are "
                f"not compared. Run `rlvr promote --evaluate-champion` to score v{champion} on "
                f"v{challenger}'s problems first (it loads the model), or pass --force to promote without a "
                "comparison. Nothing was changed"
            )
        scored = evaluate(champion, theirs)
        by_id = {row["id"]: row for row in theirs}
        ours = [{**by_id[s["id"]], "correct": bool(s["correct"])} for s in scored]
        run_id = _version_run(mlflow_client, model_name, champion)
        if not run_id:
            raise RegistryError(
                f"{model_name} v{champion} has no MLflow run to keep its held-out results in; nothing was "
                "changed (pass --force to promote without a comparison)"
            )
        _store_results(mlflow_client, run_id, fingerprint, ours)
        source = f"v{champion} scored now on v{challenger}'s held-out set"
    mine = {row["id"]: bool(row["correct"]) for row in ours}
    ids = [row["id"] for row in theirs if row["id"] in mine]
    if len(ids) != len(theirs):
        raise RegistryError(
            f"{model_name}: v{champion}'s stored results miss {len(theirs) - len(ids)} of v{challenger}'s "
            f"problems (set {fingerprint}); nothing was changed"
        )
    correct = {row["id"]: bool(row["correct"]) for row in theirs}
    comparison = paired_comparison(
        [mine[i] for i in ids], [correct[i] for i in ids], names=(f"v{champion}", f"v{challenger}")
    )
    return {**comparison, "heldout_set": fingerprint}, source


def _rule(margin: float) -> str:
    return f"promote when the lower bound of the delta's 95% interval exceeds {margin * 100:+.1f} points"


@dataclass(frozen=True)
class Verdict:
    """What `promote` would do, worked out without changing anything (`rlvr report` shows it): whether
    `champion` moves to the challenger, the reason in words, and the decision promote records (None:
    nothing to record)."""

    model_name: str
    challenger: int
    champion: int | None
    moves: bool
    reason: str
    decision: dict | None = None

    @property
    def message(self) -> str:
        """What promote says once it acted."""
        name, champion, challenger = self.model_name, self.champion, self.challenger
        if self.moves:
            if champion is None:
                return f"{name}: no champion yet; version {challenger} is champion"
            return f"{name}: champion v{champion} -> v{challenger} ({self.reason})"
        if champion == challenger:
            return f"{name}: version {champion} is already champion"
        if champion is None:
            return f"{name}: no champion; {self.reason}"
        return f"{name}: kept champion v{champion}; {self.reason}"


def judge(
    mlflow_client, model_name: str, margin: float, force: bool = False, evaluate: Evaluator | None = None
) -> Verdict:
    """The promotion gate (see `promote`), which changes nothing unless `evaluate` scores the champion,
    whose results are then kept on its run."""
    from rlvr.evaluation.stats import points

    _require_model(mlflow_client, model_name)
    challenger = _alias_version(mlflow_client, model_name, CHALLENGER)
    if challenger is None:
        raise RegistryError(f"{model_name} has no '{CHALLENGER}' version; run the register stage first")
    champion = _alias_version(mlflow_client, model_name, CHAMPION)
    if champion == challenger:
        return Verdict(model_name, challenger, champion, False, "already champion")
    tags = _version_tags(mlflow_client, model_name, challenger)
    problem = start_problem(tags)
    overrode = {"overrode_start": problem} if problem and force else {}
    if problem and not force:
        reason = (
            f"challenger v{challenger} never becomes champion: {problem}; pass --force to promote it anyway"
        )
        decision = {"decision": "kept", "reason": problem, "forced": False}
        return Verdict(model_name, challenger, champion, False, reason, decision)
    if champion is None:
        decision = {"decision": "no champion yet", **overrode}
        return Verdict(model_name, challenger, None, True, "no champion yet", decision)
    rolled_back = tags.get(ROLLED_BACK_TAG)
    if rolled_back and not force:
        reason = (
            f"challenger v{challenger} was rolled back ({ROLLED_BACK_TAG}: {rolled_back}) and is not "
            "promoted again: register a new version, or pass --force to promote it anyway"
        )
        return Verdict(model_name, challenger, champion, False, reason)
    try:
        comparison, source = _paired(mlflow_client, model_name, champion, challenger, evaluate)
    except RegistryError as exc:
        if not force:
            raise
        comparison, source = None, f"no comparison: {exc}"
    stats = (
        f"{points(comparison)}, {comparison['fixed']} fixed, {comparison['broken']} broken, "
        f"p={comparison['p_value']:.3g}, n={comparison['n']} ({source})"
        if comparison
        else source
    )
    wins = comparison is not None and comparison["ci_low"] > margin
    decision = {
        **(comparison or {}),
        "paired_on": source,
        "rule": _rule(margin),
        "margin": margin,
        "decision": "promoted" if wins or force else "kept",
        "forced": force and not wins,
        **overrode,
        **({"overrode_rollback": rolled_back} if rolled_back and force else {}),
    }
    if wins or force:
        how = "forced, " if decision["forced"] else ""
        return Verdict(
            model_name, challenger, champion, True, f"{how}{stats}; rule: {_rule(margin)}", decision
        )
    reason = f"challenger v{challenger}: {stats}; rule: {_rule(margin)}"
    return Verdict(model_name, challenger, champion, False, reason, decision)


def promote(
    model_name: str, margin: float, force: bool = False, evaluate: Evaluator | None = None
) -> AliasChange:
    """Move `champion` to the `challenger` if, on the same held-out problems, the lower bound of the
    accuracy delta's 95% interval exceeds `margin`, and the challenger is not significantly worse than the
    model its GRPO started from. `force` moves it regardless (a version rolled back included), and says
    so in the recorded decision. Where the two versions were evaluated on different held-out sets,
    `evaluate` scores the champion on the challenger's set; without it, promote refuses."""
    mlflow_client = client(must_exist=True)
    verdict = judge(mlflow_client, model_name, margin, force, evaluate)
    challenger, champion = verdict.challenger, verdict.champion
    record = None
    if verdict.decision is not None:
        record = _decide(mlflow_client, model_name, challenger, champion, verdict.decision)
    if not verdict.moves:
        return AliasChange(False, champion, champion, verdict.message, record)
    if champion is not None:
        history = [*_history(mlflow_client, model_name), champion]
        mlflow_client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(challenger))
    if ROLLED_BACK_TAG in _version_tags(mlflow_client, model_name, challenger):
        mlflow_client.delete_model_version_tag(model_name, str(challenger), ROLLED_BACK_TAG)
    return AliasChange(True, challenger, champion, verdict.message, record)


def rollback(model_name: str, reason: str = "") -> AliasChange:
    """Move `champion` back to the version it replaced last, and tag the version it leaves
    `rolled_back`, so that `promote` does not bring it back unasked. Every check comes first: an error
    leaves the registry as it was."""
    mlflow_client = client(must_exist=True)
    _require_model(mlflow_client, model_name)
    history = _history(mlflow_client, model_name)
    if not history:
        raise RegistryError(f"{model_name}: no earlier champion to roll back to")
    previous = history[-1]
    try:
        _version_tags(mlflow_client, model_name, previous)
    except RegistryError:
        raise RegistryError(
            f"{model_name}: cannot roll back to v{previous}, it was deleted; nothing was changed. Remove it "
            f"from the registered model's {HISTORY_TAG} tag ({json.dumps(history)}) to roll back further"
        ) from None
    current = _alias_version(mlflow_client, model_name, CHAMPION)
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(previous))
    mlflow_client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history[:-1]))
    if current is not None and current != previous:
        record = {"at": _now(), "champion_now": previous, "reason": reason or "rlvr rollback"}
        mlflow_client.set_model_version_tag(model_name, str(current), ROLLED_BACK_TAG, json.dumps(record))
    return AliasChange(
        True, previous, current, f"{model_name}: champion v{current} -> v{previous} (rolled back)"
    )
