"""Stage `register`: the GRPO adapter as a new registered version, logged from this pipeline run's
MLflow parent run (opened by the first tracked stage, closed here).

Nothing touches the registry before this stage, so a failure anywhere earlier leaves it as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from rlvr.config.params import Params, load_params
from rlvr.data.sources import read_jsonl
from rlvr.mlops.registry import CHALLENGER, CHAMPION, log_and_register
from rlvr.mlops.tracking import client, pipeline_run, public_uri, tracking_uri, training_run
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
    evaluation = json.loads(metrics.read_text())
    base_manifest = json.loads((base / "rlvr_base.json").read_text())
    adapter_manifest = json.loads((grpo / "rlvr_adapter.json").read_text())
    name, revision = base_manifest["name"], base_manifest["revision"]
    mlflow_client = client()
    parent = pipeline_run(mlflow_client, Path("."), params)
    lineage = mlflow_client.get_run(parent).data.tags
    trained_by = training_run(mlflow_client, grpo)
    tags = {
        "git_commit": lineage["git_commit"],
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
        f"{' after an SFT warm-up' if adapter_manifest.get('from_sft') else ''}, trained on {trained_on(p)} "
        f"(data md5 {tags['data_md5'][:8]}, params {tags['params_hash'][:8]}, git {tags['git_commit'][:8]})."
    )
    registered = log_and_register(
        model_name=p.registry.model_name,
        run_id=parent,
        evaluation=evaluation,
        predictions=read_jsonl(predictions),
        plots=sorted(plots.glob("*.png")),
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
    record = {
        "tracking_uri": public_uri(tracking_uri()),
        "run_id": registered.run_id,
        "run_name": mlflow_client.get_run(registered.run_id).info.run_name,
        "experiment_id": registered.experiment_id,
        "model_name": registered.model_name,
        "version": registered.version,
        "uri": registered.uri,
        "aliases": [CHALLENGER, *([CHAMPION] if registered.champion else [])],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"register: {yaml.safe_dump(record, sort_keys=False)}")


if __name__ == "__main__":
    stage(main)
