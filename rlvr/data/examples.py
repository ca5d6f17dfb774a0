"""Rows as TRL examples: GRPO's chat prompts with the columns the rewards read, and the SFT warm-up's
prompt-completion pairs. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from rlvr.config.schema import Markers
from rlvr.data.prompts import chat_prompt, target_completion

SFT_LEFT_OUT_REASONS = ("no_solution", "too_long")


def to_grpo_example(row: Mapping, markers: Markers) -> dict:
    """A row as a GRPOTrainer example: the chat prompt, plus `answer` and `problem`, which TRL passes on
    to the reward functions as keyword arguments; a reasoning-gym row adds its `task` and its metadata
    as JSON text (`task_metadata`: one string column, whatever shape each task's metadata has).

    Every row of a training set comes from one data source, so all of them carry a task or none does
    (`datasets.Dataset.from_list` takes its columns from the first row).

    >>> to_grpo_example({"problem": "1 + 4 =", "answer": "5", "task": "chain_sum",
    ...                  "metadata": {"expression": "1 + 4"}}, Markers())["task_metadata"]
    '{"expression": "1 + 4"}'
    """
    problem = row["problem"]
    example = {"prompt": chat_prompt(problem, markers), "answer": row["answer"], "problem": problem}
    if row.get("task") is not None:
        example |= {"task": row["task"], "task_metadata": json.dumps(row.get("metadata") or {})}
    return example


def sft_examples(
    rows: Iterable[Mapping], markers: Markers, tokens: Callable[[dict], int], max_length: int
) -> tuple[list[dict], dict[str, int]]:
    """The SFT examples of rows (`to_sft_example`), and the rows left out by reason: `no_solution`, and
    `too_long` when the example's `tokens` (prompt and completion) exceed `max_length`. The trainer
    would cut such an example at `max_length`, and the cut falls in the answer section, the very part
    the warm-up teaches; Unsloth's notebook drops them too.

    >>> rows = [{"problem": "1+1?", "answer": "2", "solution": "1 + 1 = 2"}, {"problem": "?", "answer": "2"}]
    >>> sft_examples(rows, Markers(), tokens=lambda example: 100, max_length=99)
    ([], {'no_solution': 1, 'too_long': 1})
    """
    examples: list[dict] = []
    left_out = dict.fromkeys(SFT_LEFT_OUT_REASONS, 0)
    for row in rows:
        example = to_sft_example(row, markers)
        if example is None:
            left_out["no_solution"] += 1
        elif tokens(example) > max_length:
            left_out["too_long"] += 1
        else:
            examples.append(example)
    return examples, left_out


def to_sft_example(row: Mapping, markers: Markers) -> dict | None:
    """A row as a conversational prompt-completion example for the SFT warm-up, whose target is the
    worked solution and answer in the marker format; None when the row has no solution to teach."""
    if not row.get("solution"):
        return None
    completion = target_completion(row["solution"], row["answer"], markers)
    return {
        "prompt": chat_prompt(row["problem"], markers),
        "completion": [{"role": "assistant", "content": completion}],
    }
