"""Stand-ins of the seed recipe's hub assets, of the same shape, made offline in seconds.

- `build_qwen3`: a `Qwen3ForCausalLM` from a shrunken config, random weights, with a byte-level BPE
  tokenizer that has Qwen3-4B-Base's special tokens (`<|endoftext|>` as its end and padding token, no BOS,
  the ChatML turn markers, `<think>`/`</think>`, the tool and vision tokens) and a chat template that
  behaves as Qwen3's does where rlvr meets it: the system turn first, ChatML turns, the last assistant
  turn after the user's question opened with a `<think>` block (empty when there is no reasoning), and
  the generation prompt `<|im_start|>assistant\\n` (with an empty think block when `enable_thinking` is
  false). The template is written here from that behaviour, not copied.
- `openr1_snapshot`: a folder laid out like the hub repository open-r1/OpenR1-Math-220k (Parquet shards
  per config, a README whose YAML lists the configs), in its columns, with answers of the kinds the real
  data holds: LaTeX fractions, roots, intervals, several answers, multiple-choice letters, words, answers
  no checker reads, and problems too long for the prompt budget.
- `math500_snapshot`: a folder laid out like HuggingFaceH4/MATH-500 (`test.jsonl`, a README with its
  config), in its columns.

Every row is made from a seed: the same call gives the same files.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

QWEN3_SPECIAL = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip
QWEN3_ADDED = [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
]  # fmt: skip

# Qwen3's chat behaviour, as rlvr meets it (see the module docstring); tools are out of scope here.
QWEN3_LIKE_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- set ns = namespace(last_query=-1) %}"
    "{%- for message in messages %}{%- if message.role == 'user' %}{%- set ns.last_query = loop.index0 %}"
    "{%- endif %}{%- endfor %}"
    "{%- for message in messages %}"
    "{%- set content = message.content if message.content is string else '' %}"
    "{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{%- set reasoning = '' %}"
    "{%- if '</think>' in content %}"
    "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{%- if loop.index0 > ns.last_query and (loop.last or reasoning) %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content }}"
    "{{- '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)


def byte_bpe(corpus: list[str], vocab_size: int, special: list[str]):
    """A byte-level BPE tokenizer (GPT-2's and Qwen's kind: every byte has a token, so any text encodes)
    trained on `corpus`, with `special` as its special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bpe.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, initial_alphabet=alphabet)
    )
    return bpe


def build_qwen3(dest: Path, corpus: list[str], seed: int = 0, hidden: int = 64) -> Path:
    """A tiny Qwen3 at `dest`: 2 layers, `hidden` wide, 4 heads of 16 (2 key-value heads), random weights."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    bpe = byte_bpe(corpus, 600, QWEN3_SPECIAL)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=QWEN3_SPECIAL[1:],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.add_tokens(QWEN3_ADDED)
    tokenizer.chat_template = QWEN3_LIKE_TEMPLATE
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=4096,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def _answers(rng: random.Random) -> tuple[str, str, str]:
    """One (problem, worked solution, answer) of the kinds Open R1 Math holds."""
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    kind = rng.choice(
        ["integer", "fraction", "root", "interval", "several", "choice", "word", "unverifiable", "negative"]
    )
    if kind == "integer":
        return f"Compute ${a} \\times {b}$.", f"We multiply: ${a} \\times {b} = {a * b}$.", str(a * b)
    if kind == "negative":
        return f"Solve $x + {a + b} = {a}$.", f"Subtract {a + b}: $x = {a} - {a + b} = {-b}$.", str(-b)
    if kind == "fraction":
        return (
            f"What is $\\frac{{1}}{{{a}}} + \\frac{{1}}{{{b}}}$?",
            f"The common denominator is ${a * b}$, so the sum is $\\frac{{{a + b}}}{{{a * b}}}$.",
            f"\\frac{{{a + b}}}{{{a * b}}}",
        )
    if kind == "root":
        return (
            f"Simplify $\\sqrt{{{a * a * 3}}}$.",
            f"${a * a * 3} = {a}^2 \\cdot 3$, so $\\sqrt{{{a * a * 3}}} = {a}\\sqrt{{3}}$.",
            f"{a}\\sqrt{{3}}",
        )
    if kind == "interval":
        return (
            f"Solve the inequality $x - {a} \\leq {b}$.",
            f"Add {a} to both sides: $x \\leq {a + b}$.",
            f"(-\\infty, {a + b}]",
        )
    if kind == "several":
        return (
            f"Find all real $x$ with $x^2 = {a * a}$.",
            f"$x^2 = {a * a}$ gives $x = {a}$ or $x = -{a}$.",
            f"-{a}, {a}",
        )
    if kind == "choice":
        letter = rng.choice("ABCD")
        return (
            f"Which option equals ${a} + {b}$? (A) {a + b - 1} (B) {a + b} (C) {a + b + 1} (D) {a * b}",
            f"${a} + {b} = {a + b}$, which is option {letter}.",
            letter,
        )
    if kind == "word":
        return (
            f"Alice has {a} apples and Bob has {b}. Who has more apples?",
            f"Compare {a} and {b}.",
            "Alice" if a >= b else "Bob",
        )
    return (f"Prove that there are infinitely many primes greater than {a}.", "Euclid's argument.", "proof")


def openr1_rows(count: int, seed: int) -> list[dict]:
    """Rows in Open R1 Math's columns; one in ten has a problem far over any prompt budget."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        problem, solution, answer = _answers(rng)
        if index % 10 == 9:
            problem = problem + " " + " ".join(["Consider also the following remark."] * 150)
        rows.append(
            {
                "problem": problem,
                "solution": solution,
                "answer": answer,
                "problem_type": rng.choice(
                    ["Algebra", "Number Theory", "Geometry", "Inequalities", "Combinatorics"]
                ),
                "question_type": "MCQ"
                if answer in ("A", "B", "C", "D")
                else rng.choice(["math-word-problem", "proof"]),
                "source": rng.choice(["olympiads", "cn_contest", "aops_forum", "amc_aime", "inequalities"]),
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "is_reasoning_complete": [True, True],
                "generations": [f"<think>\n{solution}\n</think>\n\\boxed{{{answer}}}"] * 2,
                "correctness_math_verify": [True, rng.random() < 0.8],
                "correctness_llama": None,
                "finish_reasons": None,
                "correctness_count": rng.randint(1, 2),
                "messages": [
                    {"role": "user", "content": problem},
                    {"role": "assistant", "content": solution},
                ],
            }
        )
    return rows


def openr1_snapshot(dest: Path, count: int = 300, seed: int = 0) -> Path:
    """The hub repository's layout: `default/` and `extended/` Parquet shards, a README listing them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = openr1_rows(count, seed)
    shards = {"default": rows[: count * 2 // 3], "extended": rows[count * 2 // 3 :]}
    for config, config_rows in shards.items():
        half = len(config_rows) // 2
        for number, part in enumerate((config_rows[:half], config_rows[half:])):
            path = dest / config / f"train-{number:05d}-of-00002.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(part), path)
    (dest / "README.md").write_text(
        "---\nlicense: apache-2.0\nconfigs:\n"
        "- config_name: default\n  data_files:\n  - split: train\n    path: default/train-*\n"
        "- config_name: extended\n  data_files:\n  - split: train\n    path: extended/train-*\n"
        "---\n\n# OpenR1-Math-220k (an offline stand-in of the same shape, made by rlvr's rehearsal)\n"
    )
    return dest


def math500_snapshot(dest: Path, count: int = 40, seed: int = 1) -> Path:
    """HuggingFaceH4/MATH-500's layout and columns: `test.jsonl`, a README naming it as the test split."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / "test.jsonl").open("w") as out:
        for index in range(count):
            problem, solution, answer = _answers(rng)
            row = {
                "problem": problem,
                "solution": solution,
                "answer": answer,
                "subject": rng.choice(["Algebra", "Prealgebra", "Number Theory", "Geometry"]),
                "level": rng.randint(1, 5),
                "unique_id": f"test/rehearsal/{index}.json",
            }
            out.write(json.dumps(row) + "\n")
    (dest / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: test.jsonl\n---\n\n"
        "# MATH-500 (an offline stand-in of the same shape, made by rlvr's rehearsal)\n"
    )
    return dest
