"""Training on the tiny model: SFT and GRPO change the adapter's weights; checkpoint choice; backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rlvr.config.schema import LoraParams, Markers, SftParams, TrainParams
from rlvr.data.examples import to_grpo_example, to_sft_example
from rlvr.data.problems import make_problems
from rlvr.files import read_log
from rlvr.training.checkpoints import last_checkpoint, train_and_publish
from rlvr.training.hardware import BackendUnavailable, select_backend, select_generation
from rlvr.training.models import load_model, load_trainable
from rlvr.training.trainers import build_grpo_trainer, build_sft_trainer
from rlvr.verify.rewards import build_rewards
from tests.tiny import DigitShare, lora_weights

ROWS = make_problems(24, seed=3, levels=[1])
LORA = LoraParams(r=4, alpha=8)


def changed(before: dict, adapter_dir: Path, base: Path) -> list[str]:
    after = lora_weights(load_model(base, "float32", adapter=adapter_dir))
    assert set(after) == set(before)
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_sft_then_grpo_change_the_adapter_weights(tiny_model, tmp_path):
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    examples = [to_sft_example(row, Markers()) for row in ROWS]
    sft = build_sft_trainer(
        model,
        tokenizer,
        peft_config,
        examples,
        SftParams(max_steps=2, batch_size=4, max_length=320),
        "float32",
        "trl",
        tmp_path / "ck-sft",
    )
    before = lora_weights(sft.model)
    summary = train_and_publish(
        sft, tmp_path / "ck-sft", tmp_path / "sft", tmp_path / "sft.json", {"stage": "sft"}
    )
    assert summary["steps"] == 2 and (tmp_path / "sft" / "adapter_model.safetensors").is_file()
    assert changed(before, tmp_path / "sft", tiny_model), "SFT left every LoRA weight as it was"

    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, tmp_path / "sft", "trl", 512)
    assert peft_config is None  # the SFT adapter is trained further, not a new one
    before = lora_weights(model)
    params = TrainParams(
        max_steps=2, batch_size=4, num_generations=4, max_completion_length=8, learning_rate=0.01
    )
    names = list(params.rewards)
    grpo = build_grpo_trainer(
        model,
        tokenizer,
        None,
        [to_grpo_example(r, Markers()) for r in ROWS],
        [*build_rewards(names, Markers()), DigitShare()],
        [1.0] * (len(names) + 1),
        params,
        "float32",
        "trl",
        "generate",
        256,
        tmp_path / "ck-grpo",
    )
    train_and_publish(
        grpo, tmp_path / "ck-grpo", tmp_path / "grpo", tmp_path / "grpo.json", {"stage": "grpo"}
    )
    log = read_log(tmp_path / "grpo.json")
    assert [row["step"] for row in log] == [1, 2]
    assert {f"rewards/{name}/mean" for name in names} <= set(log[0])
    assert changed(before, tmp_path / "grpo", tiny_model), "GRPO left every LoRA weight as it was"
    assert not (tmp_path / "ck-grpo").exists()


def test_last_checkpoint_skips_a_save_cut_short(tmp_path):
    for step, state in ((1, "{}"), (2, "{}"), (3, None), (4, '{"trunc')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-10").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert last_checkpoint(tmp_path / "missing") is None


def test_auto_backend_is_trl_without_a_gpu_and_unsloth_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert select_backend("auto") == "trl"
    assert select_backend("trl") == "trl"
    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU"):
        select_backend("unsloth")


def test_auto_generation_is_plain_generate_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert select_generation("auto", "trl") == "generate"
    assert select_generation("continuous_batching", "trl") == "continuous_batching"
    with pytest.raises(BackendUnavailable, match="train.generation is 'vllm'"):
        select_generation("vllm", "trl")
    for engine in ("merged", "compiled", "continuous_batching"):
        with pytest.raises(BackendUnavailable, match=f"'{engine}' is a TRL\\+PEFT engine"):
            select_generation(engine, "unsloth")
