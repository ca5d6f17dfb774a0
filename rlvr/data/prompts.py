"""The answer format the model is taught, and the prompts and targets that teach it.

Every completion must hold a reasoning section, then a solution section, each between named markers:

    <start_working_out> 12 + 30 = 42 <end_working_out><SOLUTION>42</SOLUTION>

The rewards check this layout, so the markers live in one object, the `format` params section
(`rlvr.config.schema.Markers`), that the prompts, the SFT targets and the rewards all take. The defaults
are those of Unsloth's Qwen3 GRPO notebook.

With `prefill_reasoning` (the notebook's chat template) the prompt itself ends with the reasoning start,
so the model's completion begins inside the reasoning section. The chat template carries it
(`format_template`): TRL renders training prompts with the tokenizer's template, and evaluation and
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
    """The system prompt that asks for the reasoning section, then the solution section: the notebook's,
    or `format.system_prompt` (its placeholders checked when the params were read).

    >>> print(system_prompt(Markers()).splitlines()[-1])
    Then, provide your final answer between <SOLUTION></SOLUTION>
    >>> system_prompt(Markers(system_prompt="In {reasoning_start}{reasoning_end}, then {solution_start}"))
    'In <start_working_out><end_working_out>, then <SOLUTION>'
    """
    template = SYSTEM_PROMPT_TEMPLATE if markers.system_prompt is None else markers.system_prompt
    return template.format(**markers.by_name())


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


def plain_template(markers: Markers) -> str:
    """A chat template with no role tags, as Unsloth's Qwen3 GRPO notebook writes for a base model: the
    system prompt and each assistant turn end with the tokenizer's end token (the one a base model stops
    on), the user's text stands alone, and the generation prompt is the reasoning start when
    `prefill_reasoning`. Written here from that behaviour."""
    opening = json.dumps(markers.reasoning_start, ensure_ascii=False) if markers.prefill_reasoning else "''"
    return (
        "{%- for message in messages %}"
        "{%- if message.role == 'user' %}{{- message.content }}"
        "{%- elif message.role in ('system', 'assistant') %}{{- message.content + eos_token }}{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- " + opening + " }}{%- endif %}"
    )


def format_template(tokenizer, markers: Markers):
    """The tokenizer with the chat template params ask for (`format.chat_template`): the model's own, its
    generation prompt ending with the reasoning start when `prefill_reasoning` (added once: a tokenizer
    saved beside a trained adapter carries it already); or rlvr's `plain_template`."""
    if markers.chat_template == "plain":
        tokenizer.chat_template = plain_template(markers)
        return tokenizer
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


def template_problems(tokenizer, markers: Markers, stop_ids: set[int]) -> list[str]:
    """What the chat template does to the taught format, found by rendering one example: a conversation
    that does not start with its own prompt, text the template writes before the answer (Qwen3's template
    opens the last assistant turn with an empty `<think>` block: SFT would teach it and the exact-format
    reward refuse it), or an assistant turn that ends with no token the model stops on (`stop_ids`: a base
    model ends with `<|endoftext|>`, not `<|im_end|>`), so GRPO's samples would run to the length limit."""
    answer = target_completion("1 + 1 = 2", "2", markers)
    prompt = chat_prompt("What is 1 + 1?", markers)
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": answer}], tokenize=False)
    if not whole.startswith(head):
        return [f"the chat template's conversation does not start with its prompt ({head[-40:]!r})"]
    said = markers.opened(whole[len(head) :]) if markers.prefill_reasoning else whole[len(head) :]
    problems = []
    if not said.startswith(answer):
        inserted = said[: max(0, said.find(markers.reasoning_start))] or said[:40]
        problems.append(
            f"the chat template writes {inserted!r} before the answer: SFT would teach it and the format "
            "rewards refuse it; set format.chat_template: plain"
        )
    tail = said[said.find(answer) + len(answer) :] if answer in said else ""
    tail_ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    if not set(tail_ids) & stop_ids:
        problems.append(
            f"an assistant turn ends with {tail!r}, and the model stops on none of its tokens: samples "
            "would run to max_completion_length; set format.chat_template: plain (it ends turns with EOS)"
        )
    return problems


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
