"""`format.prefill_reasoning`: the prompt ends with the reasoning start (Unsloth's notebook's chat
template), and the prompts, the SFT targets, the rewards and evaluation all agree on it."""

from __future__ import annotations

import pytest

from rlvr.config.schema import Markers, SftParams, parse_params
from rlvr.data.examples import to_sft_example
from rlvr.data.prompts import chat_prompt, conversation_ids, format_template, prompt_ids
from rlvr.evaluation.scoring import score_completions
from rlvr.training.models import load_tokenizer, load_trainable
from rlvr.training.trainers import build_sft_trainer
from rlvr.verify.rewards import build_rewards

PREFILL = Markers(prefill_reasoning=True)
NAMES = ["match_format_exactly", "match_format_approximately", "check_answer", "check_numbers", "accuracy"]
ROW = {"problem": "What is 6 * 7?", "answer": "42", "solution": "Six sevens are 42."}


def scores(markers: Markers, completion: str) -> list[float | None]:
    return [reward([completion], answer=["42"])[0] for reward in build_rewards(NAMES, markers)]


def test_a_completion_that_starts_mid_reasoning_scores_like_the_notebook():
    """The notebook's rewards on its completions: format 3.0, the three markers it counts 1.5 (or -3.0
    when none is there), the answer 5.0 and 3.5 and, for rlvr's own reward, 2.0."""
    mid_reasoning = "Six sevens are 42.<end_working_out><SOLUTION>42</SOLUTION>"
    assert scores(PREFILL, mid_reasoning) == [3.0, 1.5, 5.0, 3.5, 2.0]
    assert scores(PREFILL, "I do not know")[:2] == [0.0, -3.0]
    # The marker the prompt already wrote, written again, breaks the layout
    assert scores(PREFILL, "<start_working_out>" + mid_reasoning)[0] == 0.0
    # Without the prefill the same completion lacks its reasoning start
    assert scores(Markers(), mid_reasoning)[:2] == [0.0, 0.5]
    assert scores(Markers(), "<start_working_out>" + mid_reasoning) == [3.0, 2.0, 5.0, 3.5, 2.0]


def test_evaluation_scores_completions_the_same_way():
    completions = ["Six sevens are 42.<end_working_out><SOLUTION>42</SOLUTION>", "42"]
    assert score_completions(completions, ["42", "42"], [9, 1], PREFILL) == [
        {"correct": True, "formatted": True, "tokens": 9},
        {"correct": False, "formatted": False, "tokens": 1},
    ]


def test_the_prompt_ends_with_the_reasoning_start(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    messages = chat_prompt(ROW["problem"], PREFILL)
    plain = tokenizer.decode(prompt_ids(tokenizer, messages))
    assert format_template(tokenizer, Markers()).decode(prompt_ids(tokenizer, messages)) == plain

    format_template(tokenizer, PREFILL)
    format_template(tokenizer, PREFILL)  # a tokenizer saved with an adapter carries the template already
    assert tokenizer.decode(prompt_ids(tokenizer, messages)) == plain + "<start_working_out>"
    # What TRL renders for GRPO: the tokenizer's own template
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("assistant\n<start_working_out>")
    assert not tokenizer.apply_chat_template(messages, tokenize=False).endswith("<start_working_out>")


def test_a_marker_is_rendered_as_written(tiny_model):
    odd = Markers(reasoning_start='<think "it" {{ through }}\\ ≥>', prefill_reasoning=True)
    tokenizer = format_template(load_tokenizer(tiny_model), odd)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "?"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.endswith("assistant\n" + odd.reasoning_start)


def test_the_sft_trainer_learns_the_target_after_the_prefilled_marker(tiny_model, tmp_path):
    """The target keeps its reasoning start, which the prompt already holds: the trainer's completion
    tokens, the ones it learns, are the rest of it."""
    example = to_sft_example(ROW, PREFILL)
    model, tokenizer, peft_config = load_trainable(
        tiny_model, "float32", parse_params({}).lora, None, "trl", 512
    )
    tokenizer = format_template(tokenizer, PREFILL)
    prompt = prompt_ids(tokenizer, example["prompt"])
    whole = conversation_ids(tokenizer, example["prompt"] + example["completion"])
    assert whole[: len(prompt)] == prompt

    trainer = build_sft_trainer(
        model,
        tokenizer,
        peft_config,
        [example],
        SftParams(max_steps=1, max_length=512),
        "float32",
        "trl",
        tmp_path,
    )
    row = trainer.train_dataset[0]
    learned = [label for label in row["labels"] if label != -100]
    assert row["input_ids"][: len(prompt)] == prompt
    assert tokenizer.decode(learned, skip_special_tokens=True).strip() == (
        "Six sevens are 42.<end_working_out><SOLUTION>42</SOLUTION>"
    )


@pytest.mark.parametrize(("raw", "prefill"), [({}, False), ({"format": {"prefill_reasoning": True}}, True)])
def test_the_param(raw, prefill):
    assert parse_params(raw).format.prefill_reasoning is prefill
