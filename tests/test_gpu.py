"""The GPU-only paths: the Unsloth backend and vLLM generation. Marked `gpu`: skipped without CUDA, and
each also skips when its package is not installed (`pip install -e .[gpu]`, `pip install vllm`)."""

from __future__ import annotations

import pytest
import torch

from rlvr.config import LoraParams, TrainParams
from rlvr.data import to_grpo_example
from rlvr.generator import generate
from rlvr.prompts import Markers
from rlvr.rewards import REWARDS, build_rewards
from rlvr.training import load_trainable, run_trainer, select_backend, train_grpo
from tests.tiny import DigitShare, lora_weights

pytestmark = pytest.mark.gpu
EXAMPLES = [to_grpo_example(row, Markers()) for row in generate(16, seed=5, levels=[1])]


def grpo_changes_weights(tiny_model, tmp_path, backend: str, use_vllm: bool) -> None:
    model, tokenizer, peft_config = load_trainable(
        tiny_model, "bfloat16", LoraParams(r=4, alpha=8), None, backend, 512
    )
    trainer = train_grpo(
        model,
        tokenizer,
        peft_config,
        EXAMPLES,
        [*build_rewards(list(REWARDS), Markers()), DigitShare()],
        [1.0] * (len(REWARDS) + 1),
        TrainParams(max_steps=2, batch_size=4, num_generations=4, max_completion_length=8),
        "bfloat16",
        tmp_path / "ck",
        use_vllm=use_vllm,
    )
    before = lora_weights(trainer.model)
    summary = run_trainer(trainer, tmp_path / "ck", tmp_path / "out", tmp_path / "log.jsonl", {})
    assert summary["steps"] == 2 and (tmp_path / "out" / "adapter_config.json").is_file()
    after = lora_weights(trainer.model)
    assert before and any(not torch.equal(after[k], v) for k, v in before.items())


def test_auto_picks_unsloth_on_a_gpu():
    pytest.importorskip("unsloth")
    assert torch.cuda.is_available() and select_backend("auto") == "unsloth"


def test_unsloth_backend_trains(tiny_model, tmp_path):
    pytest.importorskip("unsloth")
    grpo_changes_weights(tiny_model, tmp_path, "unsloth", use_vllm=False)


def test_trl_backend_with_vllm_generation_trains(tiny_model, tmp_path):
    pytest.importorskip("vllm")
    grpo_changes_weights(tiny_model, tmp_path, "trl", use_vllm=True)
