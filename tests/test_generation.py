"""The decoding engines on a CPU: each gives the same greedy answers as plain `generate`, and GRPO's merged
sampler decodes what the policy would, static cache or not, also after the policy's LoRA moved.

On a CPU the `compiled` engine decodes into its static cache uncompiled (transformers compiles only on an
accelerator); tests/test_gpu.py runs it compiled."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from rlvr.config.schema import Markers
from rlvr.data.prompts import chat_prompt, prompt_ids
from rlvr.training.decoding import MergedSampler, generate
from rlvr.training.models import load_model, load_tokenizer
from tests.stages import ROWS
from tests.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("engines") / "base", hidden=64)


def policy(base):
    """The tiny model under a LoRA whose B is not zero, so merging it changes what the model says."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(load_model(base, "float32"), config)


def test_every_padded_engine_decodes_the_same_greedy_answers(tiny):
    tokenizer = load_tokenizer(tiny)
    prompts = [chat_prompt(row["problem"], Markers()) for row in ROWS[:6]]
    answers = {
        engine: generate(policy(tiny), tokenizer, prompts, 10, batch_size=4, engine=engine)
        for engine in ("generate", "merged", "compiled")
    }
    texts, lengths = answers["generate"]
    assert len(texts) == 6 and all(0 < n <= 10 for n in lengths)
    assert answers["merged"] == answers["generate"]
    assert answers["compiled"] == answers["generate"]
    # the adapter matters: without it the model says something else
    assert generate(load_model(tiny, "float32"), tokenizer, prompts, 10, 4)[0] != texts


def test_the_merged_sampler_follows_the_policy_static_cache_or_not(tiny):
    tokenizer = load_tokenizer(tiny)
    model = policy(tiny)
    ids = [prompt_ids(tokenizer, chat_prompt(row["problem"], Markers())) for row in ROWS[:4]]
    longest = max(map(len, ids))
    config = GenerationConfig(  # compiling off, as TRL's GRPOTrainer hands its config over
        max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id, disable_compile=True
    )
    eos, pad = [tokenizer.eos_token_id], tokenizer.pad_token_id
    plain, static = MergedSampler(model), MergedSampler(model, static_tokens=longest + 40)

    def policy_says() -> list[list[int]]:
        padded = tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding_side="left")
        with torch.no_grad():
            out = model.generate(**padded, generation_config=config)
        rows = out[:, padded["input_ids"].shape[1] :].tolist()
        return [row[: row.index(eos[0]) + 1] if eos[0] in row else row for row in rows]

    first = policy_says()
    assert plain.sample(ids, config, eos, pad) == first
    assert static.sample(ids, config, eos, pad) == first
    with torch.no_grad():  # a training step's worth of change to the LoRA
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.add_(torch.randn_like(weight))
    second = policy_says()
    assert second != first
    assert plain.sample(ids, config, eos, pad) == second
    assert static.sample(ids, config, eos, pad) == second
    decoding = static.model.generation_config  # what the copy last decoded with: compiled where it can be
    assert (decoding.cache_implementation, decoding.max_cache_len) == ("static", longest + 40)
    assert decoding.disable_compile is False and config.disable_compile is True


def test_a_groups_prompt_prefilled_once_samples_what_prefilling_every_copy_samples(tiny):
    """Greedy, so the samples are comparable token for token: three groups of prompts of different
    lengths (left-padded), four completions each, decoded with each prompt prefilled once and its cache
    repeated, against `generate` on every copy."""
    from rlvr.training.decoding import group_sizes, shared_prefill_sample

    tokenizer = load_tokenizer(tiny)
    model = policy(tiny).eval()
    distinct = [prompt_ids(tokenizer, chat_prompt(row["problem"], Markers())) for row in ROWS[:3]]
    assert len({len(ids) for ids in distinct}) > 1
    repeated = [ids for ids in distinct for _ in range(4)]
    assert group_sizes(repeated) == [4, 4, 4]
    config = GenerationConfig(
        max_new_tokens=10,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    shared = shared_prefill_sample(model, repeated, config, [tokenizer.eos_token_id], tokenizer.pad_token_id)
    tokenizer.padding_side = "left"
    encoded = tokenizer.pad({"input_ids": repeated}, return_tensors="pt")
    with torch.no_grad():
        plain = model.generate(**encoded, generation_config=config)[:, encoded["input_ids"].shape[1] :]
    expected = []
    for row in plain.tolist():
        stop = next((i for i, t in enumerate(row) if t == tokenizer.eos_token_id), len(row) - 1)
        expected.append(row[: stop + 1])
    assert shared == expected
