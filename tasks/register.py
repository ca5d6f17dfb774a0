"""Stage `register`: the held-out evaluation logged into this pipeline run's MLflow parent run (opened by
the first tracked stage, closed here), and the GRPO adapter registered as a new version from it.

Nothing touches the registry before this stage, so a failure anywhere earlier leaves it as it was. An
adapter that is already a version (same weights and adapter config: a rerun, an identical retrain, a
one-off run restored) registers nothing new, and one whose registration was cut short is completed; with
`registry.register_versions: false` (replicates, studies) nothing is registered at all, and the run
stays in MLflow to compare.
"""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from rlvr.config.schema import Params, load_params
from rlvr.data import catalog
from rlvr.errors import DataError
from rlvr.evaluation.scoring import COMPARISONS, find
from rlvr.files import (
    read_base_manifest,
    read_evaluation,
    read_fetch_report,
    read_jsonl,
    read_manifest,
    write_registry_record,
)
from rlvr.mlops.lineage import git_commit
from rlvr.mlops.registry import CHALLENGER, CHAMPION, log_evaluation, register, registered_as
from rlvr.mlops.runs import pipeline_run, training_run
from rlvr.mlops.store import client, public_uri, tracking_uri
from rlvr.serving.versions import base_artifacts
from tasks import BASE, GRPO, PARAMS, SFT, stage


def describe(p: Params, base: dict, grpo: dict, sft: dict, tags: dict[str, str], fetched: str | None) -> str:
    """The version's description, from the manifests of the run that made it (the base model's, the GRPO
    adapter's, the SFT adapter's) and the commit the training data was fetched at (`fetched`, None for
    a source without one): what actually trained, not what params allowed."""
    revision = f"@{base['revision']}" if base.get("revision") else ""
    warm_up = (
        f", after an SFT warm-up of {sft.get('steps', '?')} steps on {sft.get('examples', '?')} examples"
        if grpo.get("from_sft")
        else ""
    )
    return (
        f"GRPO LoRA adapter (r={p.lora.r}) on {base['name']}{revision}: {grpo.get('steps', '?')} GRPO steps "
        f"on {grpo.get('train_rows', '?')} training problems of {catalog.describe(p.data, fetched)}"
        f"{warm_up} (data md5 {tags['data_md5'][:8]}, params {tags['params_hash'][:8]}, "
        f"git {tags['git_commit'][:8]})."
    )


def main(
    base: Path = BASE,
    sft: Path = SFT,
    grpo: Path = GRPO,
    metrics: Path = typer.Option(..., help="The report stage's metrics JSON."),
    fetch_report: Path = typer.Option(..., help="The fetch stage's report: where the data came from."),
    predictions: Path = typer.Option(..., help="The report stage's predictions JSONL."),
    plots: Path = typer.Option(..., help="The report stage's plot directory."),
    out: Path = typer.Option(..., help="JSON file recording the registered version."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    evaluation = read_evaluation(metrics)
    if "grpo" not in evaluation:
        raise DataError(
            f"{metrics}: no `grpo` entry, so the adapter to register was not evaluated; run "
            "`dvc repro -f evaluate@grpo report`"
        )
    fetched = read_fetch_report(fetch_report).data.revision
    base_manifest = read_base_manifest(base).model_dump()
    adapter_manifest = read_manifest(grpo, "train@grpo").model_dump()
    sft_manifest = read_manifest(sft, "sft").model_dump() if adapter_manifest["from_sft"] else {}
    name, revision = base_manifest["name"], base_manifest["revision"]
    records = read_jsonl(predictions, "report")
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
        write_registry_record(out, {**record, "registered": False, "reason": reason, "version": existing})
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
    start = "sft" if adapter_manifest.get("from_sft") else "base"
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
        description=describe(p, base_manifest, adapter_manifest, sft_manifest, tags, fetched),
        start=find(evaluation.get(COMPARISONS, []), start, "grpo"),
    )
    record |= {
        "registered": True,
        "version": registered.version,
        "uri": registered.uri,
        "aliases": [CHALLENGER, *([CHAMPION] if registered.champion else [])],
    }
    write_registry_record(out, record)
    print(f"register: {yaml.safe_dump(record, sort_keys=False)}")


if __name__ == "__main__":
    stage(main)
