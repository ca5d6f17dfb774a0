"""Training on the tiny model: SFT and GRPO change the adapter's weights; checkpoint choice; backends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rlvr.config.schema import LoraParams, Markers, SftParams, TrainParams
from rlvr.contracts import AdapterManifest
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
TRAINED = AdapterManifest(stage="train", trained=True)


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
        sft,
        tmp_path / "ck-sft",
        tmp_path / "sft",
        tmp_path / "sft.json",
        AdapterManifest(stage="sft", trained=True),
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
        grpo,
        tmp_path / "ck-grpo",
        tmp_path / "grpo",
        tmp_path / "grpo.json",
        AdapterManifest(stage="train", trained=True),
    )
    log = read_log(tmp_path / "grpo.json")
    assert [row["step"] for row in log] == [1, 2]
    assert {f"rewards/{name}/mean" for name in names} <= set(log[0])
    # TRL times the whole step only; the sampling's share is rlvr's
    assert {key for key in log[0] if "time" in key} == {"step_time", "time/sampling_s"}
    assert 0 < log[0]["time/sampling_s"] < log[0]["step_time"]
    sampled = grpo.sampled_completions()  # the last round's, for the live completions table
    assert len(sampled["prompt"]) == len(sampled["completion"]) == len(sampled["advantages"]) == 4
    assert set(sampled["rewards"]) == {*names, "digit_share"}
    assert changed(before, tmp_path / "grpo", tiny_model), "GRPO left every LoRA weight as it was"
    assert not (tmp_path / "ck-grpo").exists()


def test_last_checkpoint_skips_a_save_cut_short_and_ignores_what_is_not_a_checkpoint(tmp_path, capsys):
    """The newest whole checkpoint is chosen: newer ones cut short are passed over (a line each), folders
    and files that are not `checkpoint-<step>` folders are ignored; with none whole, one line says the run
    starts afresh."""

    def whole(step: int) -> Path:
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
        (folder / "adapter_config.json").write_text("{}")
        (folder / "adapter_model.safetensors").write_bytes((2).to_bytes(8, "little") + b"{}")
        torch.save({}, folder / "optimizer.pt")
        torch.save({}, folder / "scheduler.pt")
        return folder

    whole(1)
    whole(2)
    for step, state in ((3, None), (4, '{"trunc'), (5, "[]")):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    shutil.copytree(whole(6), tmp_path / "checkpoint-6.bak")
    (tmp_path / "checkpoint-6" / "scheduler.pt").unlink()
    (tmp_path / "checkpoint-7").write_text("")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert capsys.readouterr().out.splitlines() == [
        "checkpoint-6 is not usable (no scheduler.pt); trying the one before it",
        "checkpoint-5 is not usable (trainer_state.json is not a mapping); trying the one before it",
        "checkpoint-4 is not usable (no whole trainer_state.json); trying the one before it",
        "checkpoint-3 is not usable (no whole trainer_state.json); trying the one before it",
    ]
    (tmp_path / "checkpoint-2" / "optimizer.pt").write_bytes(b"PK")
    (tmp_path / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 0}')
    assert last_checkpoint(tmp_path) is None
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "checkpoint-2 is not usable (optimizer.pt is cut short); trying the one before it",
        "checkpoint-1 is not usable (trainer_state.json says step 0, not 1); trying the one before it",
        "no usable checkpoint: starting from step 0",
    ]
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


@pytest.mark.parametrize(
    ("generation", "shared"), [("generate", False), ("merged", False), ("generate", True)]
)
def test_a_grpo_step_moves_the_lora_and_leaves_every_base_weight_bit_for_bit(
    tiny_model, tmp_path, generation, shared
):
    """TRL's own check, on CPU, for the plain engine, the merged copy (which overrides a private TRL
    method) and the shared prompt (prefill and loss): after a step, LoRA weights moved, and no weight of
    the base model changed at all."""
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    params = TrainParams(
        max_steps=1, batch_size=8, num_generations=4, max_completion_length=8, learning_rate=0.05, seed=1,
        shared_prefix=shared,
    )  # fmt: skip
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, Markers()) for r in ROWS], [DigitShare()], [1.0],
        params, "float32", "trl", generation, 256, tmp_path / "ck",
    )  # fmt: skip
    base = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_" not in k}
    lora = lora_weights(trainer.model)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    assert [k for k in lora if not torch.equal(lora[k], after[k])], "no LoRA weight moved"
    assert all(torch.equal(base[k], after[k]) for k in base), "a base weight changed"
    assert not any(after[k].requires_grad for k in base)


def test_the_private_methods_rlvr_overrides_are_pinned_to_the_trl_pyproject_allows():
    """Each private TRL method `RlvrGRPOTrainer` overrides takes the parameters its override is written
    for, in the installed TRL, which is one pyproject.toml allows (`SUPPORTED_TRL`); another release's
    signature is refused in one line naming the params that need it and the TRL to install."""
    import tomllib

    import trl
    from packaging.requirements import Requirement
    from trl import GRPOTrainer

    from rlvr.training.grpo_trainer import PRIVATE_HOOKS, SUPPORTED_TRL, RlvrGRPOTrainer, check_private_hooks
    from tests.conftest import ROOT

    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    trl_pin = next(Requirement(line) for line in pinned if Requirement(line).name == "trl")
    assert trl_pin.specifier == Requirement(f"trl{SUPPORTED_TRL}").specifier
    assert trl.__version__ in trl_pin.specifier
    check_private_hooks(GRPOTrainer, PRIVATE_HOOKS)
    private = {name for name in vars(RlvrGRPOTrainer) if name.startswith("_") and not name.startswith("__")}
    assert {name for name in private if hasattr(GRPOTrainer, name)} == set(PRIVATE_HOOKS)

    class Renamed(GRPOTrainer):
        def _generate_single_turn(self, prompts, num_generations):  # another release's signature
            raise NotImplementedError

    with pytest.raises(
        BackendUnavailable,
        match=r"^train.generation 'merged' and 'compiled', and train.shared_prefix on 'generate' replace "
        r"TRL's GRPOTrainer._generate_single_turn.*install trl>=1.15,<1.17 \(pyproject.toml\)$",
    ):
        check_private_hooks(Renamed, ["_generate_single_turn"])


def test_train_trl_reaches_grpo_config_beside_rlvrs_own_keys(tiny_model, tmp_path):
    """`train.trl` goes to GRPOConfig as it is; every other setting rlvr passes is one the schema names as
    rlvr's own (so a `train.trl` key never meets it); `train.steps_per_generation` is TRL's (null: one
    optimizer step's micro-batches), so a round holds `completions_per_round`; `train.attn_implementation`
    reaches the model."""
    from rlvr.config.schema import RLVR_GRPO_SETTINGS
    from rlvr.training.trainers import grpo_config

    params = TrainParams(
        max_steps=1, batch_size=4, num_generations=4, gradient_accumulation_steps=2, max_completion_length=8,
        attn_implementation="eager", trl={"epsilon_high": 0.28, "num_iterations": 2},
    )  # fmt: skip
    for generation in ("generate", "continuous_batching", "vllm"):
        settings = grpo_config(params, [1.0], "float32", "trl", generation, 256, tmp_path)
        assert set(settings) - set(params.trl) <= set(RLVR_GRPO_SETTINGS)
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, Markers()) for r in ROWS], [DigitShare()], [1.0],
        params, "float32", "trl", "generate", 256, tmp_path / "ck",
    )  # fmt: skip
    assert (trainer.args.epsilon_high, trainer.args.num_iterations) == (0.28, 2)
    assert trainer.args.steps_per_generation == 2
    assert trainer.args.generation_batch_size == params.completions_per_round == 8
    assert trainer.model.config._attn_implementation == "eager"


class EvenAnswersVary:
    """A reward that varies across completions only for problems with an even answer (the share of digits),
    and is 0 for every completion of the others: half the groups tie, as after SFT."""

    __name__ = "even_answers_vary"

    def __call__(self, completions, answer, **columns):
        return [
            DigitShare()([c])[0] if int(gold) % 2 == 0 else 0.0
            for c, gold in zip(completions, answer, strict=True)
        ]


@pytest.mark.parametrize(
    ("generation", "steps_per_generation", "shared"),
    [("generate", 1, False), ("merged", 2, False), ("generate", 1, True)],
)
def test_dynamic_sampling_fills_a_round_with_groups_that_do_not_tie(
    tiny_model, tmp_path, generation, steps_per_generation, shared
):
    whole = make_problems(40, seed=4, levels=[1], kinds=["arithmetic"])
    odd = [r for r in whole if int(r["answer"]) % 2 == 1]
    rows = odd[:6] + [r for r in whole if int(r["answer"]) % 2 == 0][:6]
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    params = TrainParams(
        max_steps=2, batch_size=8, num_generations=4, max_completion_length=8, learning_rate=0.05,
        steps_per_generation=steps_per_generation, dynamic_sampling=True, max_sampling_rounds=6, seed=3,
        shared_prefix=shared,
    )  # fmt: skip
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, Markers()) for r in rows], [EvenAnswersVary()],
        [1.0], params, "float32", "trl", generation, 256, tmp_path / "ck",
    )  # fmt: skip
    lora = lora_weights(trainer.model)
    train_and_publish(trainer, tmp_path / "ck", tmp_path / "grpo", tmp_path / "grpo.json", TRAINED)
    log = read_log(tmp_path / "grpo.json")
    rounds = [row for row in log if "dynamic_sampling/rounds" in row]
    assert rounds, "no dynamic sampling metrics logged"
    groups = params.completions_per_round // params.num_generations
    for row in rounds:
        assert row["dynamic_sampling/generated_groups"] == groups * row["dynamic_sampling/rounds"]
        assert (
            row["dynamic_sampling/trained_groups_with_signal"] + row["dynamic_sampling/trained_tied_groups"]
            == groups
        )
    # with half the prompts tying, six rounds of sampling find a full batch of groups with signal
    assert all(row["dynamic_sampling/trained_groups_with_signal"] == groups for row in rounds)
    after = lora_weights(load_model(tiny_model, "float32", adapter=tmp_path / "grpo"))
    assert any(not torch.equal(lora[k], after[k]) for k in lora)


def checkpointing_trainer(tiny_model: Path, checkpoints: Path, steps: int):
    """A GRPO trainer on the tiny model that saves a checkpoint at every step into `checkpoints`."""
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    params = TrainParams(
        max_steps=steps, batch_size=4, num_generations=4, max_completion_length=8, save_steps=1
    )
    return build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, Markers()) for r in ROWS], [DigitShare()],
        [1.0], params, "float32", "trl", "generate", 256, checkpoints,
    )  # fmt: skip


def test_resuming_passes_over_a_checkpoint_whose_files_are_cut_short(tiny_model, tmp_path, capsys):
    """A crash (or a full disk) while the last checkpoint was written: its adapter file is short. Resuming
    falls back to the checkpoint before it, says so, and finishes the run."""

    def trainer(steps: int):
        return checkpointing_trainer(tiny_model, tmp_path / "ck", steps)

    trainer(3).train()  # a run that saved checkpoints 1, 2, 3 and then died
    weights = tmp_path / "ck" / "checkpoint-3" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    summary = train_and_publish(
        trainer(3), tmp_path / "ck", tmp_path / "grpo", tmp_path / "grpo.json", TRAINED
    )
    out = capsys.readouterr().out
    assert "checkpoint-3 is not usable (adapter_model.safetensors holds" in out
    assert f"resuming from {tmp_path / 'ck' / 'checkpoint-2'} (step 2)" in out
    assert summary["steps"] == 3 and summary["resumed_from_step"] == 2


def test_a_groups_prompt_computed_once_gives_the_same_log_probabilities_and_gradients(tiny_model, tmp_path):
    """The shared-prefix forward (`train.shared_prefix`) against TRL's own, on one scored batch of the tiny
    model (left-padded prompts of different lengths, completions of different lengths): the same
    log-probabilities and entropies, and the same gradient of a loss built from them, within float error."""
    from trl import GRPOTrainer

    from rlvr.training.grpo_trainer import RlvrGRPOTrainer

    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    params = TrainParams(
        max_steps=1, batch_size=8, num_generations=4, max_completion_length=8, seed=2, shared_prefix=True
    )
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, Markers()) for r in ROWS], [DigitShare()], [1.0],
        params, "float32", "trl", "generate", 256, tmp_path / "ck",
    )  # fmt: skip
    trainer.model.train()
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].shape[1]
    assert len({tuple(row.tolist()) for row in batch["prompt_ids"]}) < len(ids)  # groups share prompts
    assert (
        batch["completion_mask"].sum(1).unique().numel() > 1
        or batch["prompt_mask"].sum(1).unique().numel() > 1
    )
    weights = torch.randn(ids.shape[0], width, generator=torch.Generator().manual_seed(0))
    results = []
    for method in (
        GRPOTrainer._get_per_token_logps_and_entropies,
        RlvrGRPOTrainer._get_per_token_logps_and_entropies,
    ):
        trainer.model.zero_grad()
        logps, entropies, _ = method(trainer, trainer.model, ids, mask, width, compute_entropy=True)
        keep = batch["completion_mask"].bool()
        (logps * weights)[keep].sum().backward()
        grads = {
            k: p.grad.detach().clone() for k, p in trainer.model.named_parameters() if p.grad is not None
        }
        results.append((logps[keep].detach(), entropies[keep].detach(), grads))
    (trl_logps, trl_entropy, trl_grads), (ours_logps, ours_entropy, our_grads) = results
    torch.testing.assert_close(ours_logps, trl_logps, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours_entropy, trl_entropy, rtol=1e-4, atol=1e-5)
    assert set(our_grads) == set(trl_grads) and trl_grads
    for key in trl_grads:
        torch.testing.assert_close(our_grads[key], trl_grads[key], rtol=1e-3, atol=1e-6)


def test_resuming_passes_over_every_shape_of_a_damaged_checkpoint_and_a_cut_log(tiny_model, tmp_path, capsys):
    """A run killed at step 4, left in the shapes a kill, a full disk or a user leaves: the last
    checkpoint's trainer_state.json is `{}`, the one before it lost its adapter weights, a stray
    `checkpoint-4.bak` copy sits beside them, and the run's log ends in half a line. Resuming passes over
    both damaged checkpoints (one line each), ignores the copy, drops the half line (one warning) and keeps
    the rest, and finishes from checkpoint 2 with each step logged once."""

    def trainer(steps: int):
        return checkpointing_trainer(tiny_model, tmp_path / "ck", steps)

    trainer(4).train()  # a run that saved checkpoints 1 to 4 and then died
    ck = tmp_path / "ck"
    shutil.copytree(ck / "checkpoint-4", ck / "checkpoint-4.bak")
    (ck / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (ck / "checkpoint-3" / "adapter_model.safetensors").unlink()
    (ck / "log.jsonl").write_text(
        "".join(f'{{"step": {s}, "loss": 0.5}}\n' for s in (1, 2, 3)) + '{"step": 4, "lo'
    )
    manifest = AdapterManifest(stage="train", trained=True)
    summary = train_and_publish(trainer(4), ck, tmp_path / "grpo", tmp_path / "grpo.json", manifest)
    out, err = capsys.readouterr()
    assert "checkpoint-4 is not usable (trainer_state.json says step 0, not 4)" in out
    assert "checkpoint-3 is not usable (no adapter_model.safetensors)" in out
    assert "checkpoint-4.bak" not in out
    assert f"warning: {ck / 'log.jsonl'} line 4 is not a whole JSON record (cut short?); dropped it" in err
    assert f"resuming from {ck / 'checkpoint-2'} (step 2)" in out
    assert summary["steps"] == 4 and summary["resumed_from_step"] == 2
    log = read_log(tmp_path / "grpo.json")
    assert [row["step"] for row in log] == [1, 2, 3, 4]
    assert log[0]["loss"] == 0.5 and log[2]["loss"] != 0.5  # the kept lines, then the resumed run's own
