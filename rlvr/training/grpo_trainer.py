"""`RlvrGRPOTrainer`: the class every GRPO run trains with, TRL's GRPOTrainer and what rlvr adds to it.

What TRL offers a public way to extend is extended that way: the rewards are reward functions
(`rlvr.verify.rewards`), live logging is a callback (`rlvr.mlops.live`), every GRPOConfig setting is
`train.trl` or one of rlvr's own keys (`rlvr.training.trainers.grpo_config`). What TRL has no public hook
for overrides one of its private methods here, each behind the switch that turns it on (off, TRL's own
method runs):

- `_generate_and_score_completions`, always: each generation round's wall time as `time/sampling_s`
  (TRL logs `step_time`, which holds the sampling, and no time of the sampling alone); with
  `dynamic_sampling`, more rounds of prompts until the batch holds groups whose rewards differ
  (`rlvr.training.dynamic_sampling`).
- `_generate_single_turn`, with `merged_sampling` (the `merged` and `compiled` engines): completions
  sampled from a merged copy of the policy (`rlvr.training.decoding.MergedSampler`); with
  `shared_prefill` (TRL's plain `generate`): each group's prompt prefilled once
  (`rlvr.training.decoding.shared_prefill_sample`).
- `_get_per_token_logps_and_entropies`, with `shared_prefix`: each group's prompt computed once in the
  passes that score completions (`rlvr.training.shared_prefix`).

TRL's public `rollout_func` could replace `_generate_single_turn`, but in trl 1.15 and 1.16 it is
experimental (it warns whenever a trainer is built) and takes the prompts untokenised: rlvr would render the
chat template itself, where the loss must see TRL's tokens exactly. So that override stays, pinned like the
others: `PRIVATE_HOOKS` holds each one's parameters as the TRL releases pyproject.toml allows
(`SUPPORTED_TRL`) define them, and a TRL that differs is refused in one line before training starts.
"""

from __future__ import annotations

import inspect
import time

import torch
from trl import GRPOTrainer

from rlvr.training.decoding import MergedSampler, shared_prefill_sample
from rlvr.training.dynamic_sampling import take_groups, tied_groups
from rlvr.training.hardware import BackendUnavailable
from rlvr.training.shared_prefix import pack_groups

# The TRL releases whose private methods the overrides below are written against (pyproject.toml's pin).
SUPPORTED_TRL = ">=1.15,<1.17"
# Each overridden private method: the leading parameters the override takes, and the params that use it.
PRIVATE_HOOKS = {
    "_generate_and_score_completions": (("self", "inputs"), "every GRPO run (the sampling time)"),
    "_generate_single_turn": (
        ("self", "prompt_ids", "images", "multimodal_fields", "num_generations"),
        "train.generation 'merged' and 'compiled', and train.shared_prefix on 'generate'",
    ),
    "_get_per_token_logps_and_entropies": (
        ("self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy"),
        "train.shared_prefix",
    ),
}


def check_private_hooks(trainer_class: type, names) -> None:
    """Refuse, in one line, a TRL whose private method `names` (of `PRIVATE_HOOKS`) does not take the
    parameters the override is written for: they are private, and have changed between TRL releases."""
    import trl

    for name in names:
        wanted, used_by = PRIVATE_HOOKS[name]
        method = getattr(trainer_class, name, None)
        found = tuple(inspect.signature(method).parameters)[: len(wanted)] if method else ()
        if found != wanted:
            raise BackendUnavailable(
                f"{used_by} replace TRL's GRPOTrainer.{name}{wanted[1:]}, but TRL {trl.__version__} has "
                f"{found[1:] or 'no such method'}; install trl{SUPPORTED_TRL} (pyproject.toml)"
            )


class RlvrGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with rlvr's switches (each off by default: TRL's own behaviour), see the module
    docstring for what each overrides and why.

    `dynamic_sampling`: up to this many rounds of prompts per generation round (None: off);
    `merged_sampling`: sample from a merged copy of the policy, into a static KV cache of `static_tokens`
    when set (`compiled`); `shared_prefill`: prefill a group's prompt once on TRL's plain `generate`;
    `shared_prefix`: a group's prompt computed once in the loss's forward passes. Text prompts only."""

    def __init__(
        self,
        *args,
        dynamic_sampling: int | None = None,
        merged_sampling: bool = False,
        static_tokens: int | None = None,
        shared_prefill: bool = False,
        shared_prefix: bool = False,
        **kwargs,
    ):
        used = ["_generate_and_score_completions"]
        used += ["_generate_single_turn"] if merged_sampling or shared_prefill else []
        used += ["_get_per_token_logps_and_entropies"] if shared_prefix else []
        check_private_hooks(GRPOTrainer, used)
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        self.merged_sampling, self.static_tokens, self.sampler = merged_sampling, static_tokens, None
        self.shared_prefill, self.shared_prefix = shared_prefill, shared_prefix
        self.prompt_draws = torch.Generator().manual_seed(self.args.seed + 1)

    def sampled_completions(self) -> dict:
        """The completions of the last generation rounds, as TRL keeps them for its `log_completions`
        table: `prompt`, `completion`, `rewards` (by reward name) and `advantages`, one item per
        completion."""
        logs = self._logs
        rewards = {name: list(values) for name, values in logs["rewards"].items()}
        return {key: list(logs[key]) for key in ("prompt", "completion", "advantages")} | {"rewards": rewards}

    def _generate_and_score_completions(self, inputs):
        started = time.perf_counter()
        if self.dynamic_sampling and self.model.training:
            scored = self._groups_with_signal(inputs)
        else:
            scored = super()._generate_and_score_completions(inputs)
        if self.model.training:
            self._metrics["train"]["time/sampling_s"].append(time.perf_counter() - started)
        return scored

    def _groups_with_signal(self, inputs):
        """Rounds of prompts scored until the round's groups all carry signal or `dynamic_sampling` rounds
        ran; the groups that do not tie, then tied ones of the first round as filler
        (`rlvr.training.dynamic_sampling`)."""
        size = self.num_generations
        groups = len(inputs) // size
        rounds = [super()._generate_and_score_completions(inputs)]
        tied = [tied_groups(rounds[0]["advantages"], size).tolist()]
        signal = [(0, g) for g, t in enumerate(tied[0]) if not t]
        while len(signal) < groups and len(rounds) < self.dynamic_sampling:
            rounds.append(super()._generate_and_score_completions(self._more_prompts(groups)))
            tied.append(tied_groups(rounds[-1]["advantages"], size).tolist())
            signal += [(len(rounds) - 1, g) for g, t in enumerate(tied[-1]) if not t]
        picks = signal[:groups]
        filler = [(0, g) for g, t in enumerate(tied[0]) if t][: groups - len(picks)]
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/rounds"].append(float(len(rounds)))
        metrics["dynamic_sampling/generated_groups"].append(float(groups * len(rounds)))
        metrics["dynamic_sampling/dropped_groups"].append(float(groups * (len(rounds) - 1)))
        metrics["dynamic_sampling/trained_groups_with_signal"].append(float(len(picks)))
        metrics["dynamic_sampling/trained_tied_groups"].append(float(len(filler)))
        return take_groups(rounds, picks + filler, size, self._tokenizer.pad_token_id)

    def _more_prompts(self, groups: int) -> list[dict]:
        """`groups` prompts of the training set, each repeated for its group, drawn with the run's seed."""
        rows = torch.randint(len(self.train_dataset), (groups,), generator=self.prompt_draws).tolist()
        return [self.train_dataset[i] for i in rows for _ in range(self.num_generations)]

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kwargs):
        text = not images and not multimodal_fields
        if self.merged_sampling:
            if not text:
                raise ValueError(
                    "train.generation 'merged' and 'compiled' sample text prompts only; use 'generate'"
                )
            if self.sampler is None:
                self.sampler = MergedSampler(self.accelerator.unwrap_model(self.model), self.static_tokens)
            completions = self.sampler.sample(
                prompt_ids, self.generation_config, self.eos_token_ids, self._tokenizer.pad_token_id
            )
            return completions, None
        if not (self.shared_prefill and text):
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, **kwargs
            )
        from trl.models import unwrap_model_for_generation

        with (
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped,
            torch.no_grad(),
        ):
            pad = self._tokenizer.pad_token_id
            completions = shared_prefill_sample(
                unwrapped, prompt_ids, self.generation_config, self.eos_token_ids, pad
            )
        return completions, None

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **multimodal,
    ):  # fmt: skip
        multimodal_inputs = any(value is not None for value in multimodal.values())
        if not self.shared_prefix or compute_aux_loss or multimodal_inputs:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                compute_aux_loss, **multimodal,
            )  # fmt: skip
        dtype = next(model.parameters()).dtype
        packed = pack_groups(input_ids, attention_mask, logits_to_keep, self._tokenizer.pad_token_id, dtype)
        with self.accelerator.autocast():
            outputs = model(
                input_ids=packed.ids,
                attention_mask=packed.mask,
                position_ids=packed.positions,
                labels=packed.labels,
                fused_lm_head=True,
            )
        logps = packed.unpack(outputs.log_probs)
        return logps, packed.unpack(outputs.entropy) if compute_entropy else None, None
