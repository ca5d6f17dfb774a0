"""A registered version on this machine: its files, its base model, and an `Answerer` built from them.

A version carries the adapter and, when the base model cannot be fetched by name, the base model too: the
embedded default's GGUF file, or a local base model's directory (a hub id and revision are fetched).
`rlvr ask` and the promotion gate load versions here from their files alone, so no code stored in the registry
runs; each version is downloaded once into the cache (RLVR_CACHE), checked, and verified on every use
(`local_copy`), and a GGUF base is converted once. `rlvr.serving.pyfunc` (what `mlflow.pyfunc.load_model`
runs) builds its answerer here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from rlvr.config.schema import Markers
from rlvr.contracts import CacheStamp
from rlvr.errors import DataError, RlvrError
from rlvr.files import read_json, replacing, write_failure, write_text
from rlvr.hashing import hash_path, short_hash
from rlvr.mlops.registry import ADAPTER_TAG, adapter_hash
from rlvr.serving.answerer import Answerer
from rlvr.training.models import (
    EMBEDDED,
    EMBEDDED_GGUF,
    base_for_inference,
    cache_dir,
    convert_gguf,
    embedded_gguf_dir,
)
from rlvr.training.weights import check_adapter, check_model, model_problem

ADAPTER, BASE, BASE_GGUF = "adapter", "base", "base_gguf"
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class VersionNotFound(RlvrError):
    """A model URI that names no registered version."""


def base_artifacts(name: str, base_dir: Path) -> dict[str, Path]:
    """The files a version must carry to rebuild its base model elsewhere: none for a hub id."""
    if name == EMBEDDED:
        return {BASE_GGUF: embedded_gguf_dir() / EMBEDDED_GGUF}
    if Path(name).is_dir():
        return {BASE: base_dir}
    return {}


def base_model_dir(artifacts: dict[str, str], config: dict, dtype: str) -> Path:
    """A local directory holding the version's base model, built at most once per base and dtype."""
    if BASE in artifacts:
        return Path(artifacts[BASE])
    if BASE_GGUF in artifacts:
        gguf = Path(artifacts[BASE_GGUF])
        dest = cache_dir() / "models" / f"gguf-{hash_path(gguf)[:16]}-{dtype}"
        if model_problem(dest):
            with replacing(dest) as tmp:
                convert_gguf(gguf, tmp, dtype)
                check_model(tmp, f"converting {gguf.name} gave no whole model")
        return dest
    return base_for_inference(config["base_model"], config.get("revision"), dtype)


def answerer(artifacts: dict[str, str], config: dict) -> Answerer:
    """The version's adapter on its base model, from its artifact paths and model_config."""
    from rlvr.training.hardware import resolve_dtype

    dtype = resolve_dtype(config["dtype"])
    return Answerer.load(
        artifacts[ADAPTER],
        str(base_model_dir(artifacts, config, dtype)),
        None,
        dtype,
        Markers(**config["markers"]),
        int(config["max_new_tokens"]),
    )


def resolve(mlflow_client, uri: str) -> tuple[str, int]:
    """`models:/name@alias` or `models:/name/3` as (name, version)."""
    from mlflow.exceptions import MlflowException

    from rlvr.mlops.store import public_uri, tracking_uri

    match = MODEL_URI.match(uri)
    if not match:
        raise VersionNotFound(
            f"'{uri}' is not a registered model URI: use models:/<name>@<alias> or models:/<name>/<n>"
        )
    name = match["name"]
    try:
        if match["alias"]:
            return name, int(mlflow_client.get_model_version_by_alias(name, match["alias"]).version)
        return name, int(mlflow_client.get_model_version(name, match["version"]).version)
    except MlflowException as exc:
        raise VersionNotFound(f"cannot load {uri} from {public_uri(tracking_uri())}: {exc.message}") from None


def local_copy(mlflow_client, name: str, version: int) -> Path:
    """The version's files in the cache: downloaded once, whole, checked, and verified on every use.

    The cache entry is keyed by what identifies the content: the store, the version, the run that logged
    it, the model's source and, for versions rlvr registered, the adapter's content hash (a tag). A
    registry recreated at the same path gives new runs, hence a new entry, never the old adapter. An entry
    is published only once complete (MLmodel, a whole adapter, the base model's files) with the digest of
    its files beside it; on use the digest is checked again, and an entry that differs is fetched anew."""
    from rlvr.mlops.store import check_artifacts, public_uri, sqlite_path, tracking_uri

    uri = tracking_uri()
    database = sqlite_path(uri)
    found = mlflow_client.get_model_version(name, str(version))
    if found.run_id:
        check_artifacts(mlflow_client.get_run(found.run_id).info.artifact_uri)
    identity = {
        "store": str(database.resolve()) if database else public_uri(uri),
        "name": name,
        "version": int(version),
        "run_id": found.run_id,
        "source": found.source,
        ADAPTER_TAG: found.tags.get(ADAPTER_TAG),
    }
    dest = cache_dir() / "registry" / short_hash(json.dumps(identity, sort_keys=True))
    stamp = dest.with_name(dest.name + ".json")
    if dest.is_dir() and stamp.is_file():
        try:
            stamped = read_json(stamp, None, CacheStamp).digest
        except DataError:  # cut short (a kill, a full disk): nothing vouches for the copy
            print(f"the cache stamp of {name} v{version} ({stamp}) cannot be read: fetching it again")
        else:
            if stamped == hash_path(dest):
                return dest
            print(
                f"the cached copy of {name} v{version} ({dest}) changed since it was fetched: fetching it "
                "again"
            )
    stamp.unlink(missing_ok=True)
    with replacing(dest) as tmp:
        tmp.mkdir()
        _download(f"models:/{name}/{version}", tmp, name, version)
        artifacts, _ = read_mlmodel(tmp)
        check_adapter(Path(artifacts[ADAPTER]), f"{name} v{version}'s adapter is incomplete in the registry")
        if identity[ADAPTER_TAG] and adapter_hash(Path(artifacts[ADAPTER])) != identity[ADAPTER_TAG]:
            raise VersionNotFound(
                f"{name} v{version}: the adapter in the registry is not the one registered (its content hash "
                f"differs from the version's {ADAPTER_TAG} tag); register it again"
            )
        missing = [key for key, path in artifacts.items() if not Path(path).exists()]
        if missing:
            raise VersionNotFound(f"{name} v{version}: its artifacts {missing} are missing in the registry")
    write_text(stamp, json.dumps({**identity, "digest": hash_path(dest)}))
    return dest


def _download(model_uri: str, dest: Path, name: str, version: int) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dest))
    except (MlflowException, OSError) as exc:
        if failure := write_failure(exc, dest):  # the cache's disk, not the registry: nothing was deleted
            raise failure from None
        reason = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        raise VersionNotFound(
            f"cannot fetch {name} v{version}'s files from the registry ({reason}); its artifacts may have "
            "been deleted: register it again, or use another version"
        ) from None


def read_mlmodel(model_dir: Path) -> tuple[dict[str, str], dict]:
    """A downloaded version's artifact paths and model_config, read as data from its MLmodel file."""
    try:
        pyfunc = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise VersionNotFound(f"{model_dir} holds no readable MLmodel of an rlvr version") from None
    artifacts = {
        name: str(model_dir / entry["path"]) for name, entry in (pyfunc.get("artifacts") or {}).items()
    }
    config = pyfunc.get("config") or {}
    if ADAPTER not in artifacts or "markers" not in config:
        raise VersionNotFound(
            f"{model_dir} is not an rlvr model version (no adapter or markers in its MLmodel)"
        )
    return artifacts, config


def load(mlflow_client, uri: str) -> tuple[Answerer, str, int]:
    """The answerer of a registered version, and the version's name and number."""
    name, version = resolve(mlflow_client, uri)
    artifacts, config = read_mlmodel(local_copy(mlflow_client, name, version))
    return answerer(artifacts, config), name, version


def score(model: Answerer, rows: Sequence[dict]) -> list[dict]:
    """Each row's problem answered by the model and scored the way the evaluate stage scores it:
    {"id", "correct"} per row."""
    from rlvr.evaluation.scoring import score_completions

    completions = model.complete([row["problem"] for row in rows])
    lengths = [len(model.tokenizer(c).input_ids) for c in completions]
    scores = score_completions(completions, [row["answer"] for row in rows], lengths, model.markers)
    return [{"id": row["id"], "correct": s["correct"]} for row, s in zip(rows, scores, strict=True)]


def scorer(model_name: str):
    """An `Evaluator` for `registry.promote`: loads a version of `model_name` the way `rlvr ask` does
    and scores it on the given held-out rows."""
    from rlvr.mlops.store import client

    def evaluate(version: int, rows: list[dict]) -> list[dict]:
        print(f"scoring {model_name} v{version} on {len(rows)} held-out problems", flush=True)
        model, _, _ = load(client(must_exist=True), f"models:/{model_name}/{version}")
        return score(model, rows)

    return evaluate
