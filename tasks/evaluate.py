"""Stage `evaluate`: the base model, the SFT adapter and every GRPO arm on the same held-out problems,
and on each benchmark suite that `evaluate.suites` names.

Writes each model's accuracy (with its 95% interval), format compliance and length, the paired
comparisons of every pair of models (`metrics/eval.json`), every completion (`eval/predictions.jsonl`),
what each arm cost and what the run concludes (`metrics/arms.json`), and the plots. The benchmark suites
get the same metrics, one `eval.json`-shaped entry per suite (`metrics/suites.json`), and their
completions (`eval/suites.jsonl`, each with its `suite`). Completions are scored through rlvr's
`evaluate` metric (`rlvr.evaluation.verified_math`): math-verify, or a reasoning-gym row's own task verifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlvr.config.schema import HELDOUT, load_params
from rlvr.data.prepare import problem_id
from rlvr.data.prompts import chat_prompt, format_template
from rlvr.errors import DataError
from rlvr.evaluation.conclusions import (
    answer_reward,
    compute_spent,
    data_regime,
    recommendation,
    reward_hacking,
    tied_share,
)
from rlvr.evaluation.plots import plot_comparison, plot_training
from rlvr.evaluation.scoring import (
    COMPARISONS,
    find,
    sampled_metrics,
    score_completions,
    suite_metrics,
    summarise,
)
from rlvr.evaluation.verified_math import load as load_metric
from rlvr.files import ADAPTER_MANIFEST, HELDOUT_SET, read_jsonl, read_log, replacing, write_json, write_jsonl
from rlvr.mlops.runs import stage_run
from rlvr.training.decoding import generate, sample
from rlvr.training.hardware import cuda_available, resolve_dtype, select_backend, select_generation
from rlvr.training.models import has_adapter, load_model, load_tokenizer
from rlvr.verify.equivalence import gold_is_verifiable
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
    suites: Path | None = typer.Option(None, help="The fetch stage's benchmark rows (JSONL)."),
    suites_metrics: Path | None = typer.Option(None, help="JSON file for the metrics of each benchmark."),
    suites_predictions: Path | None = typer.Option(None, help="JSONL file for the benchmarks' completions."),
    sampled_metrics_file: Path = typer.Option(
        ..., "--sampled-metrics", help="JSON file for pass@1 and pass@n per model (empty when off)."
    ),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    rows = read_jsonl(data / HELDOUT_SET)[: p.evaluate.max_problems]
    problems = {HELDOUT: rows} | benchmark_problems(p.evaluate.suites, suites)
    tokenizer = format_template(load_tokenizer(base), p.format)
    dtype = resolve_dtype(p.model.dtype)
    # Decode as GRPO sampled (vLLM merges the LoRA into its weights, as the merged engine does).
    engine = select_generation(p.train.generation, select_backend(p.train.backend))
    engine = "compiled" if engine == "vllm" else engine
    device = "cuda" if cuda_available() else "cpu"
    others = "".join(
        f", {suite} {len(suite_rows)}" for suite, suite_rows in problems.items() if suite != HELDOUT
    )
    print(f"evaluate: {len(rows)} problems{others}, {dtype} on {device}, decoding with {engine}", flush=True)
    trained = {"sft": sft} | {name: models_dir / name for name in arm}
    models = {"base": None} | {name: path for name, path in trained.items() if has_adapter(path)}
    with stage_run("evaluate", params) as run:
        metric = load_metric(p.format)
        scored: dict[str, dict[str, list[dict]]] = {suite: {} for suite in problems}
        passes: dict[str, list[int]] = {}
        records: dict[str, list[dict]] = {suite: [] for suite in problems}
        for name, adapter in models.items():
            model = load_model(base, dtype, adapter=adapter).to(device)
            if adapter is not None:  # the adapter folded into the weights: the same model, decoded faster
                model = model.merge_and_unload()
            for suite, suite_rows in problems.items():
                on, tag = ("", {}) if suite == HELDOUT else (f" on {suite}", {"suite": suite})
                completions, lengths = generate(
                    model,
                    tokenizer,
                    [chat_prompt(row["problem"], p.format) for row in suite_rows],
                    max_new_tokens=p.evaluate.max_new_tokens,
                    batch_size=p.evaluate.batch_size,
                    desc=f"evaluate {name}" + on,
                    engine=engine,
                )
                verdicts = metric.compute(
                    predictions=completions,
                    references=[row["answer"] for row in suite_rows],
                    tasks=[row.get("task") for row in suite_rows],
                    metadata=[row.get("metadata") for row in suite_rows],
                )
                scores = scored[suite][name] = [
                    {"correct": c, "formatted": f, "tokens": n}
                    for c, f, n in zip(verdicts["correct"], verdicts["formatted"], lengths, strict=True)
                ]
                records[suite] += [
                    {**tag, "id": problem_id(row["problem"]), "model": name, "problem": row["problem"],
                     "answer": row["answer"], "completion": c, **s}
                    for row, c, s in zip(suite_rows, completions, scores, strict=True)
                ]  # fmt: skip
                print(f"evaluate: {name}{on}: {summarise(scores)}", flush=True)
            if p.evaluate.pass_k:
                passes[name] = right_samples(model, tokenizer, rows, p)
        results = suite_metrics(scored.pop(HELDOUT), seed=p.evaluate.seed)
        write_json(
            sampled_metrics_file,
            sampled_metrics(passes, p.evaluate.pass_k, p.evaluate.seed) if passes else {},
        )
        if suites_metrics is not None:
            write_json(
                suites_metrics, {suite: suite_metrics(s, seed=p.evaluate.seed) for suite, s in scored.items()}
            )
        if suites_predictions is not None:
            write_jsonl([r for suite in scored for r in records[suite]], suites_predictions)
        logs = {"sft": read_log(sft_log)} | {name: read_log(logs_dir / f"{name}.json") for name in arm}
        manifests = {
            name: json.loads((trained[name] / ADAPTER_MANIFEST).read_text())
            for name in models
            if name != "base"
        }
        spent = {
            name: {"spent": compute_spent(manifest, logs[name]), "tied": tied_share(logs[name])}
            for name, manifest in manifests.items()
        }
        warnings = []
        for name in (n for n in arm if n in models):
            start = "sft" if manifests[name].get("from_sft") else "base"
            heldout = find(results[COMPARISONS], start, name)
            if warning := reward_hacking(logs[name], heldout, answer_reward(p.train.rewards)):
                warnings.append(f"{name}: {warning}")
        conclusions = recommendation(results, spent)
        if "sft" in manifests:
            rows = next((manifests[n].get("train_rows") for n in arm if n in manifests), None)
            conclusions.append(data_regime(manifests["sft"].get("examples", 0), rows))
        for line in conclusions + warnings:
            print(f"evaluate: {line}", flush=True)
        write_jsonl(records[HELDOUT], predictions)
        with replacing(plots) as folder:
            folder.mkdir()
            plot_comparison(results, folder / "before_after.png")
            plot_training(
                {name: logs[name] for name in arm if name in models}, logs["sft"], folder / "training.png"
            )
        write_json(metrics, results)
        write_json(arms_report, {"arms": spent, "conclusions": conclusions, "warnings": warnings})
        run.publish(evaluation=results)


def right_samples(model, tokenizer, rows: list[dict], p) -> list[int]:
    """How many of `evaluate.pass_k` samples of each held-out problem, drawn at train's sampling settings,
    the model gets right."""
    n = p.evaluate.pass_k
    completions = sample(
        model,
        tokenizer,
        [chat_prompt(row["problem"], p.format) for row in rows],
        n,
        p.evaluate.max_new_tokens,
        temperature=p.train.temperature,
        top_p=p.train.top_p,
        min_p=p.train.min_p,
        batch_size=p.evaluate.batch_size,
        seed=p.evaluate.seed,
        desc="pass@k",
    )
    counts = []
    for row, texts in zip(rows, completions, strict=True):
        verdicts = score_completions(
            texts, [row["answer"]] * n, [0] * n, p.format, [row.get("task")] * n, [row.get("metadata")] * n
        )
        counts.append(sum(v["correct"] for v in verdicts))
    return counts


def benchmark_problems(names: list[str], suites: Path | None) -> dict[str, list[dict]]:
    """The rows of each benchmark suite params name, from the fetch stage's file; rows whose gold
    math-verify cannot read are left out (they would count as wrong for every model), and counted."""
    wanted = [name for name in names if name != HELDOUT]
    if not wanted:
        return {}
    if suites is None or not suites.is_file():
        raise DataError(f"evaluate.suites names {wanted} but no --suites file holds their rows; run fetch")
    rows = read_jsonl(suites)
    out = {}
    for name in wanted:
        suite_rows = [row for row in rows if row.get("suite") == name]
        if not suite_rows:
            raise DataError(f"{suites} holds no row of benchmark {name!r}; run the fetch stage again")
        out[name] = [row for row in suite_rows if gold_is_verifiable(row["answer"])]
        if dropped := len(suite_rows) - len(out[name]):
            print(f"evaluate: {name}: {dropped} of {len(suite_rows)} golds math-verify cannot read, left out")
    return out


if __name__ == "__main__":
    stage(main)
