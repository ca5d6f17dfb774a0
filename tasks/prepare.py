"""Stage `prepare`: clean, dedupe, filter and split the raw rows into train and held-out files."""

from __future__ import annotations

from pathlib import Path

import typer

from rlvr.config.schema import load_params
from rlvr.data.prepare import prepare_rows
from rlvr.data.prompts import chat_prompt, format_template, prompt_ids
from rlvr.errors import DataError
from rlvr.files import HELDOUT_SET, TRAIN_SET, read_jsonl, replacing, write_json, write_problems
from rlvr.training.models import load_tokenizer
from rlvr.training.weights import check_model
from rlvr.verify.equivalence import gold_is_verifiable
from tasks import BASE, PARAMS, stage


def main(
    raw: Path = typer.Option(..., help="JSONL written by the fetch stage."),
    base: Path = BASE,
    out: Path = typer.Option(..., help="Directory for train.jsonl and heldout.jsonl."),
    report: Path = typer.Option(..., help="JSON file for the row counts and drops by reason."),
    params: Path = PARAMS,
) -> None:
    p = load_params(params)
    check_model(base, "run `dvc repro -f model`")
    tokenizer = format_template(load_tokenizer(base), p.format)

    def prompt_tokens(problem: str) -> int:
        return len(prompt_ids(tokenizer, chat_prompt(problem, p.format)))

    prepared = prepare_rows(
        read_jsonl(raw, "fetch"),
        heldout_fraction=p.prepare.heldout_fraction,
        salt=p.prepare.salt,
        is_verifiable=gold_is_verifiable,
        prompt_tokens=prompt_tokens,
        max_prompt_tokens=p.prepare.max_prompt_tokens,
        max_prompt_quantile=p.prepare.max_prompt_quantile,
    )
    if not prepared.train or not prepared.heldout:
        raise DataError(
            f"prepare: {prepared.counts} leaves no train or no held-out rows (drops: {prepared.drops}); "
            "fetch more rows, or raise prepare.max_prompt_tokens / change prepare.heldout_fraction"
        )
    with replacing(out) as folder:  # both sets or neither
        write_problems(prepared.train, folder / TRAIN_SET)
        write_problems(prepared.heldout, folder / HELDOUT_SET)
    write_json(report, {**prepared.counts, "drops": prepared.drops})
    print(f"prepare: {prepared.counts}; drops by reason: {prepared.drops}")


if __name__ == "__main__":
    stage(main)
