"""Batched greedy generation for evaluation and inference, with a progress bar."""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm


def generate(
    model,
    tokenizer,
    prompts: Sequence[list[dict]],
    max_new_tokens: int,
    batch_size: int,
    desc: str = "generate",
) -> tuple[list[str], list[int]]:
    """Greedy completions of chat prompts, and their lengths in tokens, in the order of `prompts`.

    Prompts are batched by length (left-padded), which keeps padding, and so wasted compute, small.
    """
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    completions: list[str] = [""] * len(texts)
    lengths: list[int] = [0] * len(texts)
    tokenizer.padding_side = "left"
    model.eval()
    with tqdm(total=len(texts), desc=desc, unit="problem") as progress, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False
            )
            encoded = encoded.to(model.device)
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for i, tokens in zip(batch, new_tokens, strict=True):
                kept = tokens[tokens != tokenizer.pad_token_id]
                completions[i] = tokenizer.decode(kept, skip_special_tokens=True)
                lengths[i] = int(kept.numel())
            progress.update(len(batch))
    return completions, lengths
