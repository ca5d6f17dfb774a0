"""TRL trainers built from params: the SFT warm-up and GRPO, ready for `checkpoints.train_and_publish`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlvr.config.schema import SftParams, TrainParams
from rlvr.training.decoding import paged_cache
from rlvr.training.groups import DynamicSampling, SharedPrefill, SharedPrefix
from rlvr.training.hardware import BackendUnavailable, cuda_available, resolve_optim


def training_args(
    params: SftParams | TrainParams, dtype: str, backend: str, output_dir: Path
) -> dict[str, Any]:
    """TrainingArguments shared by both trainers.

    The weights are loaded in `dtype` already, so bf16 autocast adds nothing on TRL+PEFT; worse, TRL's
    continuous-batching path casts the whole model (the fp32 LoRA weights included, for good) to bf16 when
    the flag is set. fp16 keeps the flag for its loss scaler, and Unsloth checks the flags against the
    model's dtype. On a CPU-only machine TRL raises unless use_cpu=True.
    """
    return dict(
        output_dir=str(output_dir),
        max_steps=params.max_steps,
        learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        gradient_checkpointing=params.gradient_checkpointing,
        seed=params.seed,
        logging_steps=1,
        save_strategy="steps",
        report_to=[],
        use_cpu=not cuda_available(),
        bf16=dtype == "bfloat16" and backend == "unsloth",
        fp16=dtype == "float16",
        disable_tqdm=False,
    )


def build_sft_trainer(
    model,
    tokenizer,
    peft_config,
    examples: Sequence[dict],
    params: SftParams,
    dtype: str,
    backend: str,
    checkpoints: Path,
):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **training_args(params, dtype, backend, checkpoints),
        save_steps=max(1, params.max_steps // 4),
        max_length=params.max_length,
        lr_scheduler_type=params.lr_scheduler_type,
        warmup_steps=params.warmup_steps,
        weight_decay=params.weight_decay,
        optim=resolve_optim(params.optim),
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def continuous_batching_config(params: TrainParams, max_prompt_tokens: int) -> dict[str, int]:
    """A paged KV cache sized to one generation round. Left to itself, transformers sizes the cache from
    free memory and fills it on every call (30 s per call on a CPU, most of the GPU's memory on a GPU).

    >>> continuous_batching_config(TrainParams(batch_size=32, max_completion_length=256), 256)
    {'block_size': 256, 'num_blocks': 65, 'max_batch_tokens': 8192}
    """
    return paged_cache(params.completions_per_round, max_prompt_tokens + params.max_completion_length)


# The private GRPOTrainer method the `merged` and `compiled` engines override, as trl>=1.15,<1.17 defines it.
SAMPLING_HOOK = "_generate_single_turn"
SAMPLING_HOOK_PARAMETERS = ("self", "prompt_ids", "images", "multimodal_fields", "num_generations")


def check_sampling_hook(GRPOTrainer) -> None:
    """Refuse, in one line, a TRL whose `_generate_single_turn` is not the one the merged engines replace:
    it is private, and its signature has changed between TRL releases."""
    import inspect

    import trl

    method = getattr(GRPOTrainer, SAMPLING_HOOK, None)
    found = tuple(inspect.signature(method).parameters)[: len(SAMPLING_HOOK_PARAMETERS)] if method else ()
    if found != SAMPLING_HOOK_PARAMETERS:
        raise BackendUnavailable(
            f"train.generation 'merged' and 'compiled' replace TRL's GRPOTrainer.{SAMPLING_HOOK}"
            f"{SAMPLING_HOOK_PARAMETERS[1:]}, but TRL {trl.__version__} has {found[1:] or 'no such method'}; "
            "install trl>=1.15,<1.17 (pyproject.toml), or set train.generation to 'generate'"
        )


class SamplingTime:
    """Mixed into TRL's GRPOTrainer: each generation round's wall time, logged as `time/sampling_s` beside
    TRL's `step_time`, so a step's cost splits into sampling (generation, rewards, the old log-probabilities)
    and training (the loss's forward and backward, the optimizer): the two phases a speed-up targets."""

    def _generate_and_score_completions(self, inputs):
        import time

        started = time.perf_counter()
        scored = super()._generate_and_score_completions(inputs)
        if self.model.training:
            self._metrics["train"]["time/sampling_s"].append(time.perf_counter() - started)
        return scored


class MergedSampling:
    """Mixed into TRL's GRPOTrainer (before it): completions sampled from a merged copy of the policy
    (`MergedSampler`) instead of through PEFT's unmerged LoRA, into a static KV cache of `static_tokens`
    when set (`compiled`). It replaces TRL's plain-`generate` branch, for text prompts."""

    sampler = None
    static_tokens: int | None = None

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kwargs):
        from rlvr.training.decoding import MergedSampler

        if images or multimodal_fields:
            raise ValueError(
                "train.generation 'merged' and 'compiled' sample text prompts only; use 'generate'"
            )
        if self.sampler is None:
            self.sampler = MergedSampler(self.accelerator.unwrap_model(self.model), self.static_tokens)
        completions = self.sampler.sample(
            prompt_ids, self.generation_config, self.eos_token_ids, self._tokenizer.pad_token_id
        )
        return completions, None


def grpo_trainer_class(GRPOTrainer, params: TrainParams, generation: str, static_tokens: int, backend: str):
    """TRL's GRPOTrainer with what params ask for mixed in: dynamic sampling and the shared prompt in the
    loss and, on TRL's own `generate`, in sampling (`rlvr.training.groups`); the merged-copy sampler
    (`merged`, `compiled`); and the sampling time logged."""
    mixins: list[type] = [SamplingTime]
    attributes: dict = {}
    if params.dynamic_sampling:
        mixins.append(DynamicSampling)
        attributes["max_sampling_rounds"] = params.max_sampling_rounds
    if params.shared_prefix:
        mixins.append(SharedPrefix)
        if generation == "generate" and backend == "trl":  # Unsloth samples with its own decoding
            check_sampling_hook(GRPOTrainer)
            mixins.append(SharedPrefill)
    if generation in ("merged", "compiled"):
        check_sampling_hook(GRPOTrainer)
        mixins.append(MergedSampling)
        attributes["static_tokens"] = static_tokens if generation == "compiled" else None
    return type("RlvrGRPOTrainer", (*mixins, GRPOTrainer), attributes)


def build_grpo_trainer(
    model,
    tokenizer,
    peft_config,
    examples: Sequence[dict],
    rewards: Sequence[Callable],
    weights: Sequence[float],
    params: TrainParams,
    dtype: str,
    backend: str,
    generation: str,
    max_prompt_tokens: int,
    checkpoints: Path,
):
    """GRPO on `examples`. `generation` is already resolved (`hardware.select_generation`); one round of
    generation serves `params.steps_per_generation` optimizer steps."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    paged = generation == "continuous_batching"
    args = GRPOConfig(
        **training_args(params, dtype, backend, checkpoints),
        save_steps=params.save_steps,
        num_generations=params.num_generations,
        steps_per_generation=params.steps_per_generation * params.gradient_accumulation_steps,
        max_completion_length=params.max_completion_length,
        temperature=params.temperature,
        top_p=params.top_p,
        min_p=params.min_p,
        beta=params.beta,
        loss_type=params.loss_type,
        scale_rewards=params.scale_rewards,
        mask_truncated_completions=params.mask_truncated_completions,
        weight_decay=params.weight_decay,
        warmup_steps=params.warmup_steps,
        lr_scheduler_type=params.lr_scheduler_type,
        optim=resolve_optim(params.optim),
        reward_weights=list(weights),
        use_vllm=generation == "vllm",
        vllm_mode="colocate",
        use_transformers_continuous_batching=paged,
        transformers_continuous_batching_config=(
            continuous_batching_config(params, max_prompt_tokens) if paged else None
        ),
    )
    trainer_class = grpo_trainer_class(
        GRPOTrainer, params, generation, max_prompt_tokens + params.max_completion_length, backend
    )
    return trainer_class(
        model=model,
        args=args,
        reward_funcs=list(rewards),
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
