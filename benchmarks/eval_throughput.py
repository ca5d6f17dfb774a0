"""Held-out evaluation throughput: rlvr's batched greedy generation against one problem at a time.

python -m benchmarks.eval_throughput [--problems 32] [--batch-size 16]
"""

from __future__ import annotations

import time

import typer

from benchmarks.common import embedded_model, print_table, problems
from rlvr.config.schema import Markers
from rlvr.data.prompts import chat_prompt
from rlvr.training.decoding import generate
from rlvr.training.models import load_model, load_tokenizer


def main(
    problems_n: int = typer.Option(32, "--problems", help="Held-out problems to answer."),
    batch_size: int = typer.Option(16, help="rlvr's evaluation batch size."),
    max_new_tokens: int = typer.Option(64, help="Tokens generated per problem at most."),
) -> None:
    base = embedded_model()
    model, tokenizer = load_model(base, "float32"), load_tokenizer(base)
    prompts = [chat_prompt(row["problem"], Markers()) for row in problems(problems_n, seed=7)]
    rows = []
    for label, size in (("one problem at a time", 1), (f"batched ({batch_size})", batch_size)):
        started = time.perf_counter()
        _, lengths = generate(model, tokenizer, prompts, max_new_tokens, batch_size=size, desc=label)
        seconds = time.perf_counter() - started
        rows.append([label, f"{seconds:.1f}", f"{problems_n / seconds:.2f}", f"{sum(lengths) / seconds:.0f}"])
    speedup = float(rows[0][1]) / float(rows[1][1])
    rows[1].append(f"{speedup:.1f}x")
    rows[0].append("")
    print_table(
        f"Evaluation throughput (SmolLM2-135M base, {problems_n} problems, greedy, "
        f"<= {max_new_tokens} tokens)",
        ["generation", "seconds", "problems/s", "tokens/s", "speed-up"],
        rows,
    )


if __name__ == "__main__":
    typer.run(main)
