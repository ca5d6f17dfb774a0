"""Stage `register`: one MLflow run for this pipeline run, and the GRPO adapter as a registered version.

Nothing touches the registry before this stage, so a failure anywhere earlier leaves it as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from rlvr.checkpoints import read_log
from rlvr.config import load_params
from rlvr.lineage import dvc_out_hash, git_commit, hash_path
from rlvr.registry import log_and_register, tracking_uri
from rlvr.sources import read_jsonl
from tasks import BASE, GRPO, PARAMS, SFT_LOG, TRAIN_LOG, stage


def main(
    base: Path = BASE,
    grpo: Path = GRPO,
    metrics: Path = typer.Option(..., help="The evaluate stage's metrics JSON."),
    predictions: Path = typer.Option(..., help="The evaluate stage's predictions JSONL."),
    plots: Path = typer.Option(..., help="The evaluate stage's plot directory."),
    sft_log: Path = SFT_LOG,
    train_log: Path = TRAIN_LOG,
    out: Path = typer.Option(..., help="JSON file recording the registered version."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    held_out = json.loads(metrics.read_text())
    base_manifest = json.loads((base / "rlvr_base.json").read_text())
    name = base_manifest["name"]
    lineage = {
        "git_commit": git_commit(),
        "data_md5": dvc_out_hash("dvc.lock", "fetch") or "unknown",
        "params_hash": hash_path(params),
        "base_model": name,
        **{f"heldout_{k}": str(v) for k, v in held_out["grpo"].items()},
    }
    registered = log_and_register(
        model_name=p.registry.model_name,
        params=p.model_dump(mode="json"),
        metrics=held_out,
        step_logs={"sft": read_log(sft_log), "train": read_log(train_log)},
        predictions=read_jsonl(predictions),
        plots=sorted(plots.glob("*.png")),
        adapter=grpo,
        model_config={
            "base_model": str(Path(name).resolve()) if Path(name).is_dir() else name,
            "revision": base_manifest["revision"],
            "dtype": p.model.dtype,
            "markers": p.format.model_dump(),
            "max_new_tokens": p.evaluate.max_new_tokens,
        },
        lineage=lineage,
    )
    record = {
        "tracking_uri": tracking_uri(),
        "run_id": registered.run_id,
        "experiment_id": registered.experiment_id,
        "model_name": registered.model_name,
        "version": registered.version,
        "uri": registered.uri,
        "aliases": ["challenger", *(["champion"] if registered.champion else [])],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"register: {yaml.safe_dump(record, sort_keys=False)}")


if __name__ == "__main__":
    stage(main)
