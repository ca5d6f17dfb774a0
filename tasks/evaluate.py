"""Stage `evaluate`: the base model and each trained adapter on the same held-out problems."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlvr.config import load_params
from rlvr.evaluation import score_completions, summarise
from rlvr.generation import generate
from rlvr.hardware import cuda_available, resolve_dtype, select_backend, select_generation
from rlvr.models import has_adapter, load_model, load_tokenizer
from rlvr.plots import plot_comparison, plot_training
from rlvr.prompts import chat_prompt
from rlvr.sources import read_jsonl, write_jsonl
from tasks import BASE, DATA, GRPO, PARAMS, SFT, SFT_LOG, TRAIN_LOG, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    sft: Path = SFT,
    grpo: Path = GRPO,
    sft_log: Path = SFT_LOG,
    train_log: Path = TRAIN_LOG,
    metrics: Path = typer.Option(..., help="JSON file for the metrics per model."),
    predictions: Path = typer.Option(..., help="JSONL file for every held-out completion."),
    plots: Path = typer.Option(..., help="Directory for the PNG plots."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    rows = read_jsonl(data / "heldout.jsonl")[: p.evaluate.max_problems]
    prompts = [chat_prompt(row["problem"], p.format) for row in rows]
    tokenizer = load_tokenizer(base)
    dtype = resolve_dtype(p.model.dtype)
    # Decode as GRPO sampled (vLLM merges the LoRA into its weights, as the merged engine does).
    engine = select_generation(p.train.generation, select_backend(p.train.backend))
    engine = "merged" if engine == "vllm" else engine
    device = "cuda" if cuda_available() else "cpu"
    print(f"evaluate: {len(rows)} problems, {dtype} on {device}, decoding with {engine}", flush=True)
    models = {"base": None, **({"sft": sft} if has_adapter(sft) else {}), "grpo": grpo}
    results: dict[str, dict] = {}
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
        scores = score_completions(completions, [row["answer"] for row in rows], lengths, p.format)
        results[name] = summarise(scores)
        records += [
            {"model": name, "problem": row["problem"], "answer": row["answer"], "completion": c, **s}
            for row, c, s in zip(rows, completions, scores, strict=True)
        ]
        print(f"evaluate: {name}: {results[name]}", flush=True)
    write_jsonl(records, predictions)
    plots.mkdir(parents=True, exist_ok=True)
    plot_comparison(results, plots / "before_after.png")
    plot_training(read_jsonl(train_log), read_jsonl(sft_log), plots / "training.png")
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    stage(main, track="evaluate")
