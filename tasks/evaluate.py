"""Stage `evaluate@<model>`: one model (the base, the SFT adapter or a GRPO arm) decoded greedily and scored
on the held-out problems and on each benchmark suite that `evaluate.suites` names.

One stage per model, so each is cached on its own inputs (its adapter, the decoding params, the data):
retraining an arm decodes that arm again and no other, and the report stage that compares the models
(`tasks/report.py`) reruns without decoding anything. A model its stage did not train (an arm that is
off, SFT with no steps) is written as not evaluated, at once.

Writes one folder: every held-out completion (`predictions.jsonl`, the rows of `eval/predictions.jsonl`),
every benchmark completion (`suites.jsonl`, each with its `suite`), and `scores.json` (whether the model
was evaluated, each suite's summary, and with `evaluate.pass_k` how many of the samples of each held-out
problem were right). Completions are scored through rlvr's `evaluate` metric
(`rlvr.evaluation.verified_math`): math-verify, or a reasoning-gym row's own task verifier.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config.schema import HELDOUT, load_params
from rlvr.contracts import ModelEvaluation
from rlvr.data.prepare import problem_id
from rlvr.data.prompts import chat_prompt, format_template
from rlvr.errors import DataError
from rlvr.evaluation.scoring import score_completions, summarise
from rlvr.evaluation.verified_math import load as load_metric
from rlvr.files import (
    EVALUATED_PREDICTIONS,
    EVALUATED_SCORES,
    EVALUATED_SUITES,
    HELDOUT_SET,
    read_jsonl,
    read_manifest,
    read_problems,
    replacing,
    write_json,
    write_jsonl,
)
from rlvr.training.decoding import generate, sample
from rlvr.training.hardware import cuda_available, resolve_dtype, select_backend, select_generation
from rlvr.training.models import load_model, load_tokenizer
from rlvr.training.weights import check_model
from rlvr.verify.equivalence import gold_is_verifiable
from tasks import BASE, DATA, PARAMS, check_arm_names, stage


def main(
    model: str = typer.Option(..., help="base, sft or a GRPO arm: its adapter is <models-dir>/<model>."),
    data: Path = DATA,
    base: Path = BASE,
    models_dir: Path = typer.Option(Path("models"), help="Where the adapters are."),
    suites: Path | None = typer.Option(None, help="The fetch stage's benchmark rows (JSONL)."),
    out: Path = typer.Option(..., help="Folder for this model's completions and scores."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    if model not in ("base", "sft"):
        check_arm_names([model])
    adapter = None if model == "base" else models_dir / model
    if adapter is not None:
        manifest = read_manifest(adapter, "sft" if model == "sft" else f"train@{model}")
        if not manifest.trained:
            write_model_evaluation(out, ModelEvaluation(evaluated=False, reason=manifest.reason), {})
            print(f"evaluate: {model} not evaluated ({manifest.reason})")
            return
    rows = read_problems(data / HELDOUT_SET, "prepare")[: p.evaluate.max_problems]
    problems = {HELDOUT: rows} | benchmark_problems(p.evaluate.suites, suites)
    check_model(base, "run `dvc repro -f model`")
    tokenizer = format_template(load_tokenizer(base), p.format)
    dtype = resolve_dtype(p.model.dtype)
    # Decode as GRPO sampled (vLLM merges the LoRA into its weights, as the merged engine does).
    engine = select_generation(p.train.generation, select_backend(p.train.backend))
    engine = "compiled" if engine == "vllm" else engine
    device = "cuda" if cuda_available() else "cpu"
    others = "".join(
        f", {suite} {len(suite_rows)}" for suite, suite_rows in problems.items() if suite != HELDOUT
    )
    print(
        f"evaluate: {model} on {len(rows)} problems{others}, {dtype} on {device}, decoding with {engine}",
        flush=True,
    )
    metric = load_metric(p.format)
    weights = load_model(base, dtype, adapter=adapter).to(device)
    if adapter is not None:  # the adapter folded into the weights: the same model, decoded faster
        weights = weights.merge_and_unload()
    records: dict[str, list[dict]] = {}
    summary = {}
    for suite, suite_rows in problems.items():
        on, tag = ("", {}) if suite == HELDOUT else (f" on {suite}", {"suite": suite})
        completions, lengths = generate(
            weights,
            tokenizer,
            [chat_prompt(row["problem"], p.format) for row in suite_rows],
            max_new_tokens=p.evaluate.max_new_tokens,
            batch_size=p.evaluate.batch_size,
            desc=f"evaluate {model}" + on,
            engine=engine,
        )
        verdicts = metric.compute(
            predictions=completions,
            references=[row["answer"] for row in suite_rows],
            tasks=[row.get("task") for row in suite_rows],
            metadata=[row.get("metadata") for row in suite_rows],
        )
        scores = [
            {"correct": c, "formatted": f, "tokens": n}
            for c, f, n in zip(verdicts["correct"], verdicts["formatted"], lengths, strict=True)
        ]
        records[suite] = [
            {**tag, "id": problem_id(row["problem"]), "model": model, "problem": row["problem"],
             "answer": row["answer"], "completion": c, **s}
            for row, c, s in zip(suite_rows, completions, scores, strict=True)
        ]  # fmt: skip
        summary[suite] = summarise(scores)
        print(f"evaluate: {model}{on}: {summary[suite]}", flush=True)
    right = right_samples(weights, tokenizer, rows, p) if p.evaluate.pass_k else None
    evaluation = ModelEvaluation(evaluated=True, summary=summary, pass_k=p.evaluate.pass_k, right=right)
    write_model_evaluation(out, evaluation, records)


def write_model_evaluation(out: Path, evaluation: ModelEvaluation, records: dict[str, list[dict]]) -> None:
    """The model's folder, whole or not at all: a rerun cut short leaves the last one as it was."""
    with replacing(out) as folder:
        folder.mkdir(parents=True)
        write_jsonl(records.get(HELDOUT, []), folder / EVALUATED_PREDICTIONS)
        write_jsonl(
            [r for suite, rows in records.items() if suite != HELDOUT for r in rows],
            folder / EVALUATED_SUITES,
        )
        write_json(folder / EVALUATED_SCORES, evaluation.model_dump(exclude_none=True))


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
    rows = read_jsonl(suites, "fetch")
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
