"""A tiny, randomly initialised chat model built in seconds, so tests train and generate for real
without the embedded model: a byte-level BPE tokenizer trained on a few math strings, with ChatML
special tokens and chat template, and a two-layer Llama.

The answer format's markers are single tokens of its vocabulary, so the random model can write them; but
rlvr's rewards still score every completion of a random model alike (no complete layout, no answer), so
GRPO gets no advantage from them. Tests that need a gradient train on `DigitShare`, a reward that varies
across any completions."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_model(dest: Path, seed: int = 0, hidden: int = 32) -> Path:
    """The model at `dest`; `hidden` is split over 4 heads (Unsloth's kernels want a head of 16 or more)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from rehearsal.standins import byte_bpe
    from rlvr.config.schema import Markers
    from rlvr.data.problems import make_problems
    from rlvr.data.prompts import system_prompt

    corpus = [system_prompt(Markers())] + [
        f"{r['problem']} {r['solution']} {r['answer']}" for r in make_problems(50, 0, [1])
    ]
    bpe = byte_bpe(corpus, 400, SPECIAL)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHATML
    tokenizer.add_tokens(list(Markers().as_tuple()))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


class DigitShare:
    """A reward that varies across a random model's completions (the share of digits), so GRPO's
    group advantages are not all zero: on a random model every rlvr reward scores every completion the
    same, which gives no gradient at all (that is GRPO working as designed)."""

    __name__ = "digit_share"

    def __call__(self, completions, **columns):
        from rlvr.verify.parsing import completion_text

        texts = [completion_text(c) for c in completions]
        return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]


def lora_weights(model) -> dict:
    """A copy of the model's LoRA tensors, to compare before and after training."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}
