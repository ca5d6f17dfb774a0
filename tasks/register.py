"""Stage `register`: the held-out evaluation logged into this pipeline run's MLflow parent run (opened by
the first tracked stage, closed here), and the GRPO adapter registered as a new version from it.

Nothing touches the registry before this stage, so a failure anywhere earlier leaves it as it was. An
adapter that is already a version (same content hash: a rerun, or a one-off run restored) registers
nothing new; with `registry.register_versions: false` (replicates, studies) nothing is registered at
all, and the run stays in MLflow to compare.
"""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from rlvr.config.schema import Params, load_params
from rlvr.files import ADAPTER_MANIFEST, BASE_MANIFEST, read_json, read_jsonl, write_json
from rlvr.mlops.lineage import git_commit
from rlvr.mlops.registry import CHALLENGER, CHAMPION, log_evaluation, register, registered_as
from rlvr.mlops.runs import pipeline_run, training_run
from rlvr.mlops.store import client, public_uri, tracking_uri
from rlvr.serving.versions import base_artifacts
from tasks import BASE, GRPO, PARAMS, stage


def trained_on(p: Params) -> str:
    """The training data, in words, for the version's description."""
    data = p.data
    if data.source == "builtin":
        b = data.builtin
        return f"{b.count} generated problems (levels {b.levels}, kinds {', '.join(b.kinds)})"
    if data.source == "hub":
        h = data.hub
        rows = f", at most {h.max_rows} rows" if h.max_rows else ""
        return f"{h.path}@{h.revision or 'main'} ({h.split}{rows})"
    if data.source == "reasoning_gym":
        g = data.reasoning_gym
        return f"{g.size} reasoning-gym problems ({', '.join(t.name for t in g.tasks)}; seed {g.seed})"
    return f"the local file {data.local.path}"


def main(
    base: Path = BASE,
    grpo: Path = GRPO,
    metrics: Path = typer.Option(..., help="The evaluate stage's metrics JSON."),
    predictions: Path = typer.Option(..., help="The evaluate stage's predictions JSONL."),
    plots: Path = typer.Option(..., help="The evaluate stage's plot directory."),
    out: Path = typer.Option(..., help="JSON file recording the registered version."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    evaluation = read_json(metrics, "the evaluate stage")
    base_manifest = read_json(base / BASE_MANIFEST, "the model stage")
    adapter_manifest = read_json(grpo / ADAPTER_MANIFEST, "the train stage")
    name, revision = base_manifest["name"], base_manifest["revision"]
    records = read_jsonl(predictions)
    mlflow_client = client()
    parent = pipeline_run(mlflow_client, Path("."), params)
    log_evaluation(parent, evaluation, records, sorted(plots.glob("*.png")))
    run = mlflow_client.get_run(parent)
    record = {
        "tracking_uri": public_uri(tracking_uri()),
        "run_id": parent,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "model_name": p.registry.model_name,
    }
    existing = registered_as(p.registry.model_name, grpo)
    if not p.registry.register_versions or existing is not None:
        reason = (
            "registry.register_versions is false"
            if not p.registry.register_versions
            else f"this adapter is already version {existing}"
        )
        write_json(out, {**record, "registered": False, "reason": reason, "version": existing})
        print(f"register: nothing registered ({reason}); the evaluation is in MLflow run {parent}")
        return
    lineage = run.data.tags
    trained_by = training_run(mlflow_client, grpo)
    tags = {
        "git_commit": git_commit(Path(".")),
        "data_md5": lineage["data_md5"],
        "params_hash": lineage["params_hash"],
        "base_model": name,
        "pipeline_run_id": parent,
        **{f"heldout_{k}": str(v) for k, v in evaluation["grpo"].items() if isinstance(v, int | float)},
        **({"grpo_run_id": trained_by} if trained_by else {}),
    }
    description = (
        f"GRPO LoRA adapter (r={p.lora.r}) on {name}{f'@{revision}' if revision else ''}: "
        f"{adapter_manifest.get('steps', '?')} GRPO steps"
        f"{' after an SFT warm-up' if adapter_manifest.get('from_sft') else ''} on "
        f"{adapter_manifest.get('train_rows', '?')} training problems of {trained_on(p)} "
        f"(data md5 {tags['data_md5'][:8]}, params {tags['params_hash'][:8]}, git {tags['git_commit'][:8]})."
    )
    registered = register(
        model_name=p.registry.model_name,
        run_id=parent,
        predictions=records,
        adapter=grpo,
        base_files=base_artifacts(name, base),
        model_config={
            "base_model": name,
            "revision": revision,
            "dtype": p.model.dtype,
            "markers": p.format.model_dump(),
            "max_new_tokens": p.evaluate.max_new_tokens,
        },
        tags=tags,
        description=description,
    )
    record |= {
        "registered": True,
        "version": registered.version,
        "uri": registered.uri,
        "aliases": [CHALLENGER, *([CHAMPION] if registered.champion else [])],
    }
    write_json(out, record)
    print(f"register: {yaml.safe_dump(record, sort_keys=False)}")


if __name__ == "__main__":
    stage(main)
