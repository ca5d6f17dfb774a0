"""Stage `select`: the training problems GRPO can learn from, chosen by their pass rate under the model
GRPO starts from (the SFT adapter, or the base model when SFT is off).

With `select.enabled`, each of the first `select.max_problems` training problems is answered
`select.samples` times at train's sampling settings and scored as the evaluate stage scores; the problems
whose pass rate lies strictly inside `select.band` are kept (`rlvr.data.selection`), and
`metrics/selection.json` holds the histogram of pass rates: how much signal the data holds before any
GRPO step. Off, every training problem goes on to train unchanged. Both GRPO arms train on what it keeps.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.data.prompts import chat_prompt, format_template
from rlvr.data.selection import histogram, pass_counts, select
from rlvr.errors import DataError
from rlvr.evaluation.scoring import score_completions
from rlvr.files import TRAIN_SET, read_problems, replacing, write_json, write_problems
from rlvr.training.decoding import sample
from rlvr.training.hardware import cuda_available, resolve_dtype
from rlvr.training.models import has_adapter, load_model, load_tokenizer
from tasks import BASE, DATA, PARAMS, SFT, stage


def main(
    data: Path = DATA,
    base: Path = BASE,
    sft: Path = SFT,
    out: Path = typer.Option(..., help="Directory for the selected train.jsonl."),
    report: Path = typer.Option(..., help="JSON file for the pass-rate histogram and the counts."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    s, t = p.select, p.train
    rows = read_problems(data / TRAIN_SET, "prepare")
    if not s.enabled:
        with replacing(out) as folder:
            write_problems(rows, folder / TRAIN_SET)
        write_json(report, {"enabled": False, "problems": len(rows), "kept": len(rows)})
        print(f"select: off; all {len(rows)} training problems go on")
        return
    scored = rows[: s.max_problems]
    adapter = sft if has_adapter(sft) else None
    dtype = resolve_dtype(p.model.dtype)
    model = load_model(base, dtype, adapter=adapter).to("cuda" if cuda_available() else "cpu")
    tokenizer = format_template(load_tokenizer(base), p.format)
    origin = "the SFT adapter" if adapter else "the base model"
    print(f"select: {len(scored)} problems x {s.samples} samples from {origin}, temperature {t.temperature}")
    started = time.perf_counter()
    completions = sample(
        model,
        tokenizer,
        [chat_prompt(row["problem"], p.format) for row in scored],
        s.samples,
        t.max_completion_length,
        temperature=t.temperature,
        top_p=t.top_p,
        min_p=t.min_p,
        batch_size=s.batch_size,
        seed=s.seed,
        desc="select",
    )
    correct = []
    for row, texts in zip(scored, completions, strict=True):
        n = len(texts)
        verdicts = score_completions(
            texts, [row["answer"]] * n, [0] * n, p.format, [row.get("task")] * n, [row.get("metadata")] * n
        )
        correct.append([v["correct"] for v in verdicts])
    counts = pass_counts(correct)
    kept = select(scored, counts, s.samples, s.band)
    summary = {
        "enabled": True,
        "problems": len(rows),
        "scored": len(scored),
        "samples": s.samples,
        "band": s.band,
        "kept": len(kept),
        "kept_share": len(kept) / len(scored),
        "mean_pass_rate": sum(counts) / (len(scored) * s.samples),
        "histogram": histogram(counts, s.samples),
        "wall_s": round(time.perf_counter() - started, 3),  # part of what RFT costs beside SFT
    }
    if not kept:
        raise DataError(
            f"select: no problem of {len(scored)} has a pass rate inside {s.band} (histogram "
            f"{summary['histogram']}); widen select.band, raise select.samples, or set select.enabled: false"
        )
    with replacing(out) as folder:
        write_problems(kept, folder / TRAIN_SET)
    write_json(report, summary)
    print(f"select: kept {len(kept)} of {len(scored)}; pass rates {summary['histogram']}")


if __name__ == "__main__":
    stage(main)
