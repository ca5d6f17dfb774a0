"""A registered version on this machine: its files, its base model, and an `Answerer` built from them.

A version carries the adapter and, when the base model cannot be fetched by name, the base model too: the
embedded default's GGUF file, or a local base model's directory (a hub id and revision are fetched).
`rlvr ask` and the promotion gate load versions here from their files alone, so no code stored in the
registry runs; each version is downloaded once into the cache (RLVR_CACHE), and a GGUF base is
converted once. `rlvr.serving.pyfunc` (what `mlflow.pyfunc.load_model` runs) builds its answerer here too.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from rlvr.config.schema import Markers
from rlvr.errors import RlvrError
from rlvr.hashing import hash_path
from rlvr.serving.answerer import Answerer
from rlvr.training.models import (
    EMBEDDED,
    EMBEDDED_GGUF,
    base_for_inference,
    cache_dir,
    convert_gguf,
    embedded_gguf_dir,
)

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
        if not (dest / "config.json").is_file():
            partial = dest.with_name(dest.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            convert_gguf(gguf, partial, dtype)
            shutil.rmtree(dest, ignore_errors=True)
            partial.rename(dest)
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
    """The version's files in the cache, downloaded on first use (versions never change)."""
    import mlflow

    from rlvr.mlops.store import public_uri, sqlite_path, tracking_uri

    uri = tracking_uri()
    database = sqlite_path(uri)
    store = str(database.resolve()) if database else public_uri(uri)
    dest = cache_dir() / "registry" / hashlib.sha256(store.encode()).hexdigest()[:12] / name / str(version)
    if not (dest / "MLmodel").is_file():
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(partial))
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)
    return dest


def read_mlmodel(model_dir: Path) -> tuple[dict[str, str], dict]:
    """A downloaded version's artifact paths and model_config, read as data from its MLmodel file."""
    pyfunc = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
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
