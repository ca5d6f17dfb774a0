"""Stage `report`: the evaluate@<model> stages' results side by side, with no decoding, so that a change to
a comparison, a conclusion rule or a plot reruns this stage alone (and register after it).

Writes each model's held-out accuracy (with its 95% interval), format compliance and length, and the
paired comparisons of every pair of models (`metrics/eval.json`); every held-out completion
(`eval/predictions.jsonl`); what each arm cost and what the run concludes (`metrics/arms.json`); the
benchmark suites' metrics, one `eval.json`-shaped entry per suite (`metrics/suites.json`), and their
completions (`eval/suites.jsonl`); pass@1 and pass@n per model with `evaluate.pass_k`
(`metrics/sampled.json`); and the plots. The held-out metrics go into the pipeline run's MLflow child run
`evaluate`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config.schema import HELDOUT, load_params
from rlvr.evaluation.combine import suite_scores
from rlvr.evaluation.conclusions import (
    answer_reward,
    compute_spent,
    data_regime,
    recommendation,
    reward_hacking,
    tied_share,
)
from rlvr.evaluation.plots import plot_comparison, plot_training
from rlvr.evaluation.scoring import COMPARISONS, find, sampled_metrics, suite_metrics
from rlvr.files import read_log, read_manifest, read_model_evaluation, together, write_json, write_jsonl
from rlvr.mlops.runs import StageDataset, stage_run
from rlvr.training.stalls import stalls
from tasks import PARAMS, SFT, SFT_LOG, check_arm_names, stage


def main(
    evaluations: Path = typer.Option(..., help="The folder of the evaluate@<model> stages' folders."),
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
    suites_metrics: Path | None = typer.Option(None, help="JSON file for the metrics of each benchmark."),
    suites_predictions: Path | None = typer.Option(None, help="JSONL file for the benchmarks' completions."),
    sampled_metrics_file: Path = typer.Option(
        ..., "--sampled-metrics", help="JSON file for pass@1 and pass@n per model (empty when off)."
    ),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    check_arm_names(arm)
    # Every input read and checked before anything is written: a broken one fails now, in one line.
    logs = {"sft": read_log(sft_log, "sft")} | {
        name: read_log(logs_dir / f"{name}.json", f"train@{name}") for name in arm
    }
    evaluated = {name: read_model_evaluation(evaluations / name, name) for name in ["base", "sft", *arm]}
    models = [name for name, (scores, _) in evaluated.items() if scores.evaluated]
    trained = {"sft": sft} | {name: models_dir / name for name in arm}
    manifests = {
        name: read_manifest(trained[name], "sft" if name == "sft" else f"train@{name}")
        for name in models
        if name != "base"
    }
    scored = suite_scores({name: evaluated[name][1] for name in models})
    heldout = [row for row in evaluated[models[0]][1] if "suite" not in row]
    dataset = StageDataset(heldout, str(evaluations / models[0]), "prepared/heldout")
    with stage_run("evaluate", params, dataset=dataset) as run:  # one run holds every model's evaluation
        results = suite_metrics(scored.pop(HELDOUT), seed=p.evaluate.seed)
        passes = {name: evaluated[name][0].right for name in models if evaluated[name][0].right is not None}
        spent = {
            name: {
                "spent": compute_spent(manifest.model_dump(exclude_none=True), logs[name]),
                "tied": tied_share(logs[name]),
            }
            for name, manifest in manifests.items()
        }
        warnings = []
        for name in (n for n in arm if n in models):
            start = "sft" if manifests[name].from_sft else "base"
            heldout = find(results[COMPARISONS], start, name)
            if warning := reward_hacking(logs[name], heldout, answer_reward(p.train.rewards)):
                warnings.append(f"{name}: {warning}")
            warnings += [f"{name}: {warning}" for warning in stalls(logs[name]).values()]
        conclusions = recommendation(results, spent)
        if "sft" in manifests:
            rows = next((manifests[n].train_rows for n in arm if n in manifests), None)
            conclusions.append(data_regime(manifests["sft"].examples or 0, rows))
        for line in conclusions + warnings:
            print(f"report: {line}", flush=True)
        records = [row for name in models for row in evaluated[name][1]]
        with together() as output:  # all or none: a full disk halfway leaves the last run's outputs whole
            write_json(
                output(sampled_metrics_file),
                sampled_metrics(passes, p.evaluate.pass_k, p.evaluate.seed) if passes else {},
            )
            if suites_metrics is not None:
                write_json(
                    output(suites_metrics),
                    {suite: suite_metrics(s, seed=p.evaluate.seed) for suite, s in scored.items()},
                )
            if suites_predictions is not None:
                write_jsonl(
                    [r for suite in scored for r in records if r.get("suite") == suite],
                    output(suites_predictions),
                )
            write_jsonl([r for r in records if "suite" not in r], output(predictions))
            folder = output(plots)
            folder.mkdir()
            plot_comparison(results, folder / "before_after.png")
            plot_training(
                {name: logs[name] for name in arm if name in models}, logs["sft"], folder / "training.png"
            )
            write_json(output(metrics), results)
            write_json(output(arms_report), {"arms": spent, "conclusions": conclusions, "warnings": warnings})
        run.publish(evaluation=results)


if __name__ == "__main__":
    stage(main)
