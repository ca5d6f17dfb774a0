"""Stage `evaluate`: the base model, the SFT adapter and every GRPO arm on the same held-out problems.

Writes each model's accuracy (with its 95% interval), format compliance and length, the paired
comparisons of every pair of models (`metrics/eval.json`), every completion (`eval/predictions.jsonl`),
what each arm cost and what the run concludes (`metrics/arms.json`), and the plots.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlvr.checkpoints import MANIFEST, read_log
from rlvr.config import load_params
from rlvr.data import problem_id
from rlvr.evaluation import (
    COMPARISONS,
    compare_models,
    compute_spent,
    find,
    recommendation,
    reward_hacking,
    score_completions,
    summarise,
    tied_share,
)
from rlvr.generation import generate
from rlvr.hardware import cuda_available, resolve_dtype, select_backend, select_generation
from rlvr.models import has_adapter, load_model, load_tokenizer
from rlvr.plots import plot_comparison, plot_training
from rlvr.prompts import chat_prompt, prefill_template
from rlvr.sources import read_jsonl, write_jsonl
from rlvr.tracking import tracked
from tasks import BASE, DATA, PARAMS, SFT, SFT_LOG, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    sft: Path = SFT,
    sft_log: Path = SFT_LOG,
    arm: list[str] = typer.Option(
        ..., help="A GRPO arm: its adapter is <models-dir>/<arm>, its log <logs-dir>/<arm>.json."
    ),
    models_dir: Path = typer.Option(Path("models"), help="Where the arms' adapters are."),
    logs_dir: Path = typer.Option(Path("logs"), help="Where the arms' logs are."),
    metrics: Path = typer.Option(..., help="JSON file for the metrics per model and their comparisons."),
    arms_report: Path = typer.Option(..., help="JSON file for each arm's cost and the run's conclusions."),
    predictions: Path = typer.Option(..., help="JSONL file for every held-out completion."),
    plots: Path = typer.Option(..., help="Directory for the PNG plots."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    rows = read_jsonl(data / "heldout.jsonl")[: p.evaluate.max_problems]
    prompts = [chat_prompt(row["problem"], p.format) for row in rows]
    tokenizer = prefill_template(load_tokenizer(base), p.format)
    dtype = resolve_dtype(p.model.dtype)
    # Decode as GRPO sampled (vLLM merges the LoRA into its weights, as the merged engine does).
    engine = select_generation(p.train.generation, select_backend(p.train.backend))
    engine = "merged" if engine == "vllm" else engine
    device = "cuda" if cuda_available() else "cpu"
    print(f"evaluate: {len(rows)} problems, {dtype} on {device}, decoding with {engine}", flush=True)
    trained = {"sft": sft} | {name: models_dir / name for name in arm}
    models = {"base": None} | {name: path for name, path in trained.items() if has_adapter(path)}
    scores: dict[str, list[dict]] = {}
    records: list[dict] = []
    for name, adapter in models.items():
        model = load_model(base, dtype, adapter=adapter).to(device)
        completions, lengths = generate(
            model,
            tokenizer,
            prompts,
            max_new_tokens=p.evaluate.max_new_tokens,
            batch_size=p.evaluate.batch_size,
            desc=f"evaluate {name}",
            engine=engine,
        )
        scores[name] = score_completions(completions, [row["answer"] for row in rows], lengths, p.format)
        records += [
            {"id": problem_id(row["problem"]), "model": name, "problem": row["problem"],
             "answer": row["answer"], "completion": c, **s}
            for row, c, s in zip(rows, completions, scores[name], strict=True)
        ]  # fmt: skip
        print(f"evaluate: {name}: {summarise(scores[name])}", flush=True)
    results: dict = {name: summarise(s) for name, s in scores.items()}
    results[COMPARISONS] = compare_models(scores, seed=p.evaluate.seed)
    logs = {"sft": read_log(sft_log)} | {name: read_log(logs_dir / f"{name}.json") for name in arm}
    manifests = {
        name: json.loads((trained[name] / MANIFEST).read_text()) for name in models if name != "base"
    }
    spent = {
        name: {"spent": compute_spent(manifest, logs[name]), "tied": tied_share(logs[name])}
        for name, manifest in manifests.items()
    }
    warnings = []
    for name in (n for n in arm if n in models):
        start = "sft" if manifests[name].get("from_sft") else "base"
        if warning := reward_hacking(logs[name], find(results[COMPARISONS], start, name)):
            warnings.append(f"{name}: {warning}")
    conclusions = recommendation(results, spent)
    for line in conclusions + warnings:
        print(f"evaluate: {line}", flush=True)
    write_jsonl(records, predictions)
    plots.mkdir(parents=True, exist_ok=True)
    plot_comparison(results, plots / "before_after.png")
    plot_training({name: logs[name] for name in arm if name in models}, logs["sft"], plots / "training.png")
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(results, indent=2) + "\n")
    arms_report.write_text(
        json.dumps({"arms": spent, "conclusions": conclusions, "warnings": warnings}, indent=2) + "\n"
    )


if __name__ == "__main__":
    stage(tracked(main, "evaluate"))
