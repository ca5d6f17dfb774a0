"""TRL trainers built from params: the SFT warm-up (TRL's SFTTrainer) and GRPO (`RlvrGRPOTrainer`,
`rlvr.training.grpo_trainer`), ready for `checkpoints.train_and_publish`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlvr.config.schema import SftParams, TrainParams
from rlvr.training.decoding import paged_cache
from rlvr.training.hardware import cuda_available, resolve_optim, resolve_shared_prefix


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
    free memory and fills it on every call (seconds per call on a CPU, most of the GPU's memory on a GPU).

    >>> continuous_batching_config(TrainParams(batch_size=32, max_completion_length=256), 256)
    {'block_size': 256, 'num_blocks': 65, 'max_batch_tokens': 8192}
    """
    return paged_cache(params.completions_per_round, max_prompt_tokens + params.max_completion_length)


def vllm_memory(params: TrainParams) -> dict:
    """TRL's colocated vLLM memory settings, as params ask: its share of GPU memory (TRL's own default
    when unset) and sleep mode (`vllm_standby`: its weights and KV cache offloaded while the policy
    trains, TRL's counterpart of Unsloth's standby)."""
    share = (
        {}
        if params.vllm_gpu_memory_utilization is None
        else {"vllm_gpu_memory_utilization": params.vllm_gpu_memory_utilization}
    )
    return share | {"vllm_enable_sleep_mode": params.vllm_standby}


def grpo_config(
    params: TrainParams,
    weights: Sequence[float],
    dtype: str,
    backend: str,
    generation: str,
    max_prompt_tokens: int,
    output_dir: Path,
) -> dict[str, Any]:
    """GRPOConfig's settings: rlvr's own keys (each GRPOConfig name they set is listed, with the key,
    in `rlvr.config.schema.RLVR_GRPO_SETTINGS`) and `train.trl`, passed as it is."""
    paged = generation == "continuous_batching"
    return dict(
        **training_args(params, dtype, backend, output_dir),
        save_steps=params.save_steps,
        num_generations=params.num_generations,
        steps_per_generation=params.steps_per_generation,
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
        **(vllm_memory(params) if generation == "vllm" else {}),
        use_transformers_continuous_batching=paged,
        transformers_continuous_batching_config=(
            continuous_batching_config(params, max_prompt_tokens) if paged else None
        ),
        **params.trl,
    )


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
    """An `RlvrGRPOTrainer` on `examples`, its switches set from params. `generation` is already resolved
    (`hardware.select_generation`); `train.attn_implementation`, when set, is applied to the loaded model."""
    from datasets import Dataset
    from trl import GRPOConfig

    from rlvr.training.grpo_trainer import RlvrGRPOTrainer

    if params.attn_implementation:
        model.set_attn_implementation(params.attn_implementation)
    settings = grpo_config(params, weights, dtype, backend, generation, max_prompt_tokens, checkpoints)
    args = GRPOConfig(**settings)
    merged = generation in ("merged", "compiled")
    shared = resolve_shared_prefix(params.shared_prefix)
    return RlvrGRPOTrainer(
        model=model,
        args=args,
        reward_funcs=list(rewards),
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=tokenizer,
        peft_config=peft_config,
        dynamic_sampling=params.max_sampling_rounds if params.dynamic_sampling else None,
        merged_sampling=merged,
        static_tokens=max_prompt_tokens + params.max_completion_length if generation == "compiled" else None,
        # Unsloth samples with its own decoding
        shared_prefill=shared and generation == "generate" and backend == "trl",
        shared_prefix=shared,
    )
