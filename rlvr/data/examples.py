"""Rows as TRL examples: GRPO's chat prompts with the columns the rewards read, and the SFT warm-up's
prompt-completion pairs. Pure: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping

from rlvr.config.schema import Markers
from rlvr.data.prepare import clean_rows, problem_id
from rlvr.data.prompts import chat_prompt, target_completion

SFT_LEFT_OUT_REASONS = ("no_solution", "too_long")
# One number as pandas' `to_numeric` reads a text, the notebook's SFT filter: ASCII digits, a sign, a
# decimal point, an exponent; no thousands commas, fractions or LaTeX.
_PLAIN_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")
# A reasoning trace's own tags (OpenMathReasoning's `<think>`), which the notebook removes from the target.
THINK_TAGS = ("<think>", "</think>")


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


def sft_source_rows(
    rows: Iterable[Mapping], numeric_answers: bool, heldout: Collection[str]
) -> tuple[list[dict], dict[str, int]]:
    """The warm-up's own rows (`sft.data`, fetched from a source of their own): cleaned as prepare cleans
    (`clean_rows`), without any problem of the held-out set (`heldout`: its problem ids), which the
    evaluation must not have taught, and with `numeric_answers` only those whose answer is one plain
    number; and the rows left out by reason.

    >>> rows = [{"problem": "1+1?", "answer": "2", "solution": "..."}, {"problem": "?", "answer": "x"},
    ...         {"problem": "Held out", "answer": "3"}, {"problem": "", "answer": "1"}]
    >>> kept, left_out = sft_source_rows(rows, True, {problem_id("held out")})
    >>> [row["problem"] for row in kept], left_out
    (['1+1?'], {'empty_problem': 1, 'not_numeric': 1, 'heldout_problem': 1})
    """
    kept, drops = clean_rows(rows)
    left_out = dict(drops)
    out = []
    for row in kept:
        reason = (
            "heldout_problem"
            if problem_id(row["problem"]) in heldout
            else "not_numeric"
            if numeric_answers and not _PLAIN_NUMBER.fullmatch(row["answer"])
            else None
        )
        if reason:
            left_out[reason] = left_out.get(reason, 0) + 1
        else:
            out.append(row)
    return out, left_out


def to_sft_example(row: Mapping, markers: Markers) -> dict | None:
    """A row as a conversational prompt-completion example for the SFT warm-up, whose target is the
    worked solution (without a reasoning trace's own `<think>` tags, as the notebook writes it) and the
    answer in the marker format; None when the row has no solution to teach.

    >>> to_sft_example({"problem": "?", "answer": "2", "solution": "<think>1+1</think> so 2"},
    ...                Markers())["completion"][0]["content"]
    '<start_working_out>1+1 so 2<end_working_out><SOLUTION>2</SOLUTION>'
    """
    if not row.get("solution"):
        return None
    solution = row["solution"]
    for tag in THINK_TAGS:
        solution = solution.replace(tag, "")
    completion = target_completion(solution, row["answer"], markers)
    return {
        "prompt": chat_prompt(row["problem"], markers),
        "completion": [{"role": "assistant", "content": completion}],
    }
