"""Decoding: greedy completions for evaluation and inference, and GRPO's sampling from a merged copy.

Greedy decoding has four engines: transformers' `generate` on batches of similar length (left-padded, so
little padding), the same with an adapter merged into the weights whatever their dtype (`merged`), that
into a static KV cache (`compiled`: on a CUDA GPU transformers then compiles the decode step with
`torch.compile`'s CUDA graphs, so one decode step is one graph launch instead of hundreds of kernel
launches), and transformers' continuous batching (`generate_batch`: a paged KV cache, finished sequences
replaced at once). `decodable` merges an fp32 LoRA adapter into the weights before decoding
(the base model's cost, the same result up to rounding) and leaves a bf16 or fp16 one separate, since
rounding the merged weights can lose small updates; the `merged` and `compiled` engines merge in every
dtype, as GRPO's sampler does. The evaluate stage merges every adapter itself, whatever the dtype, so its
greedy answers are those of the merged weights.

A small model decodes at the pace of kernel launches, not arithmetic, and PEFT's unmerged LoRA adds
several kernels to every adapted projection of every decode step. `MergedSampler` keeps a plain copy of
the policy with the LoRA merged in for GRPO to sample from, as TRL's vLLM path does, without vLLM and
without ever writing to the trained weights; with a static cache (`compiled`) it decodes through CUDA
graphs, whose recorded weights stay valid because `sync` writes into the same storage.
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

from rlvr.data.prompts import prompt_ids

# Tokens per block of the paged KV cache that continuous batching decodes into.
CACHE_BLOCK = 256
# Tokens in one forward pass of continuous batching at most (transformers' own default).
MAX_BATCH_TOKENS = 8192


def paged_cache(requests: int, tokens_per_request: int) -> dict[str, int]:
    """A paged KV cache sized to `requests` sequences in flight. Left to itself, transformers sizes the
    cache and its batch from free memory and fills them on every call: seconds per call on a CPU, most of
    the GPU's memory on a GPU.

    >>> paged_cache(4, 300)
    {'block_size': 256, 'num_blocks': 9, 'max_batch_tokens': 1200}
    """
    blocks = requests * -(-tokens_per_request // CACHE_BLOCK) + 1
    return {
        "block_size": CACHE_BLOCK,
        "num_blocks": blocks,
        "max_batch_tokens": min(MAX_BATCH_TOKENS, requests * tokens_per_request),
    }


def static_cache(tokens: int) -> dict:
    """`generate`'s settings for a static KV cache of `tokens` tokens (prompt and completion): one length
    for every call, so that a compiled decode step is traced once, not again for each batch or round.

    >>> static_cache(300)
    {'cache_implementation': 'static', 'max_cache_len': 300}
    """
    return {"cache_implementation": "static", "max_cache_len": tokens}


def decodable(model):
    """The model to decode with: an fp32 PEFT model with its adapter merged in, anything else as it is."""
    import torch

    if hasattr(model, "merge_and_unload") and model.dtype == torch.float32:
        return model.merge_and_unload()
    return model


def generate(
    model,
    tokenizer,
    prompts: Sequence[list[dict]],
    max_new_tokens: int,
    batch_size: int,
    desc: str = "generate",
    engine: str = "generate",
    keep_adapter: bool = False,
) -> tuple[list[str], list[int]]:
    """Greedy completions of chat prompts, and their lengths in tokens, in the order of `prompts`.

    `engine` is `generate`, `merged` (`generate` with the LoRA merged into the weights whatever their
    dtype, as GRPO's `merged` engine samples), `compiled` (`merged` into a static cache) or
    `continuous_batching`. `keep_adapter` decodes through the unmerged adapter and leaves the model as it
    is, for a model still training (`rlvr.evaluation.curves`); it is put in eval mode either way."""
    import torch

    merge = engine in ("merged", "compiled") and hasattr(model, "merge_and_unload")
    if not keep_adapter:
        model = decodable(model.merge_and_unload() if merge else model)
    model.eval()
    ids = [prompt_ids(tokenizer, p) for p in prompts]
    if engine in ("generate", "merged", "compiled"):
        cache = static_cache(max(map(len, ids)) + max_new_tokens) if engine == "compiled" else {}
        with torch.inference_mode():
            tokens = _padded_batches(model, tokenizer, ids, max_new_tokens, batch_size, desc, cache)
    else:  # its worker thread writes tensors made here, which inference mode would forbid
        tokens = _continuous_batches(model, tokenizer, ids, max_new_tokens, batch_size)
    completions = [tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
    return completions, [len(t) for t in tokens]


def sample(
    model,
    tokenizer,
    prompts: Sequence[list[dict]],
    samples: int,
    max_new_tokens: int,
    *,
    temperature: float,
    top_p: float,
    min_p: float | None,
    batch_size: int,
    seed: int,
    desc: str = "sample",
) -> list[list[str]]:
    """`samples` sampled completions of each chat prompt (in the order of `prompts`), drawn as GRPO draws
    them (temperature, top_p, min_p), from `seed`: the same call gives the same completions. A prompt's
    samples share one prefill (`num_return_sequences`); prompts of similar length share a batch."""
    import torch

    model = decodable(model)
    model.eval()
    ids = [prompt_ids(tokenizer, p) for p in prompts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    per_batch = max(1, batch_size // samples)
    texts: list[list[str]] = [[] for _ in ids]
    tokenizer.padding_side = "left"
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.inference_mode(), tqdm(total=len(ids), desc=desc, unit="problem") as progress:
            for start in range(0, len(order), per_batch):
                batch = order[start : start + per_batch]
                encoded = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
                output = model.generate(
                    **encoded.to(model.device),
                    max_new_tokens=max_new_tokens,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    min_p=min_p,
                    top_k=0,
                    num_return_sequences=samples,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new = output[:, encoded["input_ids"].shape[1] :]
                for row, tokens in enumerate(new):
                    text = tokenizer.decode(
                        tokens[tokens != tokenizer.pad_token_id], skip_special_tokens=True
                    )
                    texts[batch[row // samples]].append(text)
                progress.update(len(batch))
    finally:
        torch.random.set_rng_state(generator_state)
    return texts


def _padded_batches(model, tokenizer, ids, max_new_tokens, batch_size, desc, cache: dict) -> list[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    tokens: list[list[int]] = [[] for _ in ids]
    tokenizer.padding_side = "left"
    with tqdm(total=len(ids), desc=desc, unit="problem") as progress:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            encoded = encoded.to(model.device)
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                **cache,
            )
            for i, new in zip(batch, output[:, encoded["input_ids"].shape[1] :], strict=True):
                tokens[i] = new[new != tokenizer.pad_token_id].tolist()
            progress.update(len(batch))
    return tokens


def _continuous_batches(model, tokenizer, ids, max_new_tokens, batch_size) -> list[list[int]]:
    from transformers import GenerationConfig
    from transformers.generation import ContinuousBatchingConfig

    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    longest = max(len(i) for i in ids) + max_new_tokens
    paged = ContinuousBatchingConfig(**paged_cache(min(batch_size, len(ids)), longest))
    outputs = model.generate_batch(ids, generation_config=config, continuous_batching_config=paged)
    if len(outputs) != len(ids) or any(o.error for o in outputs.values()):
        failed = [o.error for o in outputs.values() if o.error]
        raise RuntimeError(f"continuous batching returned {len(outputs)} of {len(ids)} completions: {failed}")
    return [[t for t in o.generated_tokens if t != tokenizer.pad_token_id] for o in outputs.values()]


def cut_at_end(rows: Sequence[list[int]], eos_ids: Sequence[int]) -> list[list[int]]:
    """Each generated row up to and including its first end token (all of it when it has none): what
    follows is padding of a batch whose other rows ran on.

    >>> cut_at_end([[5, 2, 0, 0], [5, 6, 7]], eos_ids=[2])
    [[5, 2], [5, 6, 7]]
    """
    ends = set(eos_ids)
    completions = []
    for row in rows:
        stop = next((i for i, token in enumerate(row) if token in ends), len(row) - 1)
        completions.append(row[: stop + 1])
    return completions


def group_sizes(prompt_ids: Sequence[list[int]]) -> list[int]:
    """How many times each prompt repeats in a row (TRL hands a group's prompt to the sampler once per
    completion, one group after the other).

    >>> group_sizes([[1, 2], [1, 2], [3], [3]]), group_sizes([[1], [2], [1]])
    ([2, 2], [1, 1, 1])
    """
    sizes: list[int] = []
    for index, ids in enumerate(prompt_ids):
        if index and list(ids) == list(prompt_ids[index - 1]):
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def shared_prefill_sample(
    model, prompt_ids: Sequence[list[int]], config, eos_ids: Sequence[int], pad_id: int
) -> list[list[int]]:
    """Completions of left-padded prompts under `config`, each cut after its first end token, with each
    group's prompt read once: the distinct prompts are prefilled (all but their last token), their KV
    cache repeated for their group's completions, and `generate` goes on from there. The same samples as
    prefilling every copy (the cache holds the same keys and values), for a group's size times fewer
    prefill tokens. Groups of unequal sizes fall back to prefilling every copy."""
    import torch

    sizes = group_sizes(prompt_ids)
    device = next(model.parameters()).device
    firsts = [sum(sizes[:i]) for i in range(len(sizes))]
    distinct = (
        [list(prompt_ids[i]) for i in firsts] if len(set(sizes)) == 1 else [list(p) for p in prompt_ids]
    )
    repeat = sizes[0] if len(set(sizes)) == 1 else 1
    width = max(len(ids) for ids in distinct)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in distinct], device=device)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in distinct], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        prefill = model(
            input_ids=input_ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
        )
        cache = prefill.past_key_values
        if repeat > 1:
            cache.batch_repeat_interleave(repeat)
        output = model.generate(
            input_ids=input_ids.repeat_interleave(repeat, dim=0),
            attention_mask=mask.repeat_interleave(repeat, dim=0),
            past_key_values=cache,
            generation_config=config,
        )
    return cut_at_end(output[:, width:].tolist(), eos_ids)


class MergedSampler:
    """A plain copy of a PEFT policy, its LoRA merged in, refreshed from the policy before each round.

    `sync` sets every adapted weight of the copy to W + scale * B @ A of the policy's current LoRA (in
    place: the copy's tensors keep their storage), so the copy samples from the policy being trained, up to
    the rounding of the merged weights to the model's dtype. The trained weights are only read.

    With `static_tokens`, it decodes into a static KV cache of that many tokens (`static_cache`).
    """

    def __init__(self, policy, static_tokens: int | None = None):
        import copy

        import torch
        from peft.tuners.lora import LoraLayer

        self.policy = policy
        self.static_tokens = static_tokens
        with torch.no_grad():
            plain = copy.deepcopy(policy).merge_and_unload()
        if getattr(plain, "is_gradient_checkpointing", False):
            plain.gradient_checkpointing_disable()
        plain.config.use_cache = True
        self.model = plain.eval().requires_grad_(False)
        copies = dict(self.model.named_modules())
        self.layers = [
            (layer, copies[name])
            for name, layer in policy.get_base_model().named_modules()
            if isinstance(layer, LoraLayer)
        ]

    def sync(self) -> None:
        import torch

        with torch.no_grad():
            for layer, target in self.layers:
                merged = layer.get_base_layer().weight.float()
                for adapter in layer.active_adapters:
                    merged = merged + layer.get_delta_weight(adapter).float()
                target.weight.copy_(merged)

    def sample(
        self, prompt_ids: Sequence[list[int]], config, eos_ids: Sequence[int], pad_id: int
    ) -> list[list[int]]:
        """Completions of left-padded prompts under `config`, each cut after its first end token."""
        import copy

        import torch

        self.sync()
        device = next(self.model.parameters()).device
        width = max(len(ids) for ids in prompt_ids)
        input_ids = torch.tensor(
            [[pad_id] * (width - len(ids)) + list(ids) for ids in prompt_ids], device=device
        )
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids], device=device)
        if self.static_tokens:
            config = copy.deepcopy(config)  # TRL turns compiling off; this copy is for inference only
            config.update(**static_cache(self.static_tokens), disable_compile=False)
        self.model.generation_config = config
        with torch.inference_mode():
            output = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
        return cut_at_end(output[:, width:].tolist(), eos_ids)
