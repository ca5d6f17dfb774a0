"""The answer format the model is taught, and the prompts and targets that teach it.

Every completion must hold a reasoning section, then a solution section, each between named markers:

    <start_working_out> 12 + 30 = 42 <end_working_out><SOLUTION>42</SOLUTION>

The rewards check this layout, so the markers live in one object, the `format` params section
(`rlvr.config.schema.Markers`), that the prompts, the SFT targets and the rewards all take. The defaults
are those of Unsloth's Qwen3 GRPO notebook.

With `prefill_reasoning` (the notebook's chat template) the prompt itself ends with the reasoning start,
so the model's completion begins inside the reasoning section. The chat template carries it
(`prefill_template`): TRL renders training prompts with the tokenizer's template, and evaluation and
inference render theirs with `prompt_ids`. The SFT target keeps the marker, which the prompt then
already holds: the trainer learns only the tokens after the prompt. The rewards read the marker back
in front of the completion (`Markers.opened`).
"""

from __future__ import annotations

import json

from rlvr.config.schema import Markers

SYSTEM_PROMPT_TEMPLATE = (
    "You are given a problem.\n"
    "Think about the problem and provide your working out.\n"
    "Place it between {reasoning_start} and {reasoning_end}.\n"
    "Then, provide your final answer between {solution_start}{solution_end}"
)


def system_prompt(markers: Markers) -> str:
    """The system prompt that asks for the reasoning section, then the solution section.

    >>> print(system_prompt(Markers()).splitlines()[-1])
    Then, provide your final answer between <SOLUTION></SOLUTION>
    """
    return SYSTEM_PROMPT_TEMPLATE.format(**markers.model_dump())


def chat_prompt(problem: str, markers: Markers) -> list[dict[str, str]]:
    """A problem as TRL's conversational prompt: a list of chat messages."""
    return [
        {"role": "system", "content": system_prompt(markers)},
        {"role": "user", "content": problem},
    ]


def target_completion(solution: str, answer: str, markers: Markers) -> str:
    """A worked solution and its answer in the completion format, the target of the SFT warm-up.

    >>> target_completion("6 * 7 = 42", "42", Markers())
    '<start_working_out>6 * 7 = 42<end_working_out><SOLUTION>42</SOLUTION>'
    """
    m = markers
    return (
        f"{m.reasoning_start}{solution.strip()}{m.reasoning_end}"
        f"{m.solution_start}{answer.strip()}{m.solution_end}"
    )


def prefill_template(tokenizer, markers: Markers):
    """The tokenizer, its chat template ending the generation prompt with the reasoning start when
    `markers.prefill_reasoning` (Unsloth's notebook's template does the same); as it was otherwise.

    The marker is added after the template's own generation prompt, once: a tokenizer saved beside a
    trained adapter already carries it.
    """
    if not markers.prefill_reasoning:
        return tokenizer
    opening = (
        "{% if add_generation_prompt %}{{ "
        + json.dumps(markers.reasoning_start, ensure_ascii=False)
        + " }}{% endif %}"
    )
    if not tokenizer.chat_template.endswith(opening):
        tokenizer.chat_template += opening
    return tokenizer


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """The token ids of a chat prompt, generation prompt included: what the model reads before it answers.

    One definition for every place that counts or feeds prompt tokens (the prompt-length filter,
    decoding). transformers 5's `apply_chat_template(tokenize=True)` returns a `BatchEncoding`, whose
    `len()` is its number of keys, not of tokens; rendering the text and tokenizing it without adding
    special tokens gives the ids themselves."""
    return _chat_ids(tokenizer, messages, add_generation_prompt=True)


def conversation_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """The token ids of a whole conversation, as the SFT trainer reads an example (its prompt, then its
    completion), for the SFT length check."""
    return _chat_ids(tokenizer, messages, add_generation_prompt=False)


def _chat_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]
