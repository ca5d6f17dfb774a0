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
- `dapo_snapshot` and `openmath_snapshot`: folders laid out like open-r1/DAPO-Math-17k-Processed (configs
  `en` and `cn`, columns `prompt`, `solution`, ...) and unsloth/OpenMathReasoning-mini (split `cot`,
  columns `expected_answer`, `problem`, `generated_solution` with its `<think>` block, non-numeric answers
  among them): the `qwen3-4b` profile's GRPO and SFT data. Their problems are small additions, which a
  tiny model can learn to answer in a minute, so that GRPO's groups score differently.
- `teach_format`: the stand-in base trained (all its weights) on worked additions in the profile's
  rendering until it writes the answer format, as Qwen3-4B-Base can be prompted into it; a random model
  never reaches its end token, so every completion would be cut and every group would tie.

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


def additions(count: int, seed: int) -> list[tuple[str, str, str]]:
    """(problem, worked solution, answer) of small additions, the stand-ins' learnable problems."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        out.append((f"What is {a} + {b}?", f"{a} + {b} = {a + b}", str(a + b)))
    return out


def _readme(dest: Path, title: str, configs: dict[str, tuple[str, str]]) -> None:
    """A dataset card whose YAML lists each config's split and files, as the hub's do."""
    lines = ["---", "configs:"]
    for name, (split, files) in configs.items():
        lines += [f"- config_name: {name}", "  data_files:", f"  - split: {split}", f"    path: {files}"]
    (dest / "README.md").write_text(
        "\n".join([*lines, "---", "", f"# {title} (an offline stand-in of the same shape)", ""])
    )


def dapo_snapshot(dest: Path, count: int = 300, seed: int = 2) -> Path:
    """open-r1/DAPO-Math-17k-Processed's layout: configs `en` and `cn`, its columns; the gold: `solution`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    for config in ("en", "cn"):
        rows = []
        for problem, _, answer in additions(count if config == "en" else 20, rng.randint(0, 10**6)):
            rows.append(
                {
                    "prompt": problem,
                    "solution": answer,
                    "data_source": "math_dapo",
                    "source_prompt": [{"role": "user", "content": problem}],
                    "ability": "MATH",
                    "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MATH_v2"},
                    "extra_info": {"index": str(uuid.UUID(int=rng.getrandbits(128)))},
                }
            )
        path = dest / config / "train-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path)
    _readme(dest, "DAPO-Math-17k-Processed", {"en": ("train", "en/train-*"), "cn": ("train", "cn/train-*")})
    return dest


def openmath_snapshot(dest: Path, count: int = 120, seed: int = 3) -> Path:
    """unsloth/OpenMathReasoning-mini's layout: split `cot`, its columns, a `<think>` block in each
    solution; one row in four has an answer that is no plain number (the notebook's filter drops it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for index, (problem, solution, answer) in enumerate(additions(count, seed)):
        expected = answer if index % 4 else f"\\frac{{{answer}}}{{1}}"
        rows.append(
            {
                "expected_answer": expected,
                "problem_type": "has_answer_extracted",
                "problem_source": "aops_c4_high_school_math",
                "generation_model": "DeepSeek-R1",
                "pass_rate_72b_tir": "1/32",
                "problem": problem,
                "generated_solution": f"<think>\n{solution}\n</think>\n{solution}",
                "inference_mode": "cot",
            }
        )
    path = dest / "data" / "cot-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    _readme(dest, "OpenMathReasoning-mini", {"default": ("cot", "data/cot-*")})
    return dest


def teach_format(model_dir: Path, markers, count: int = 400, seed: int = 4, max_rounds: int = 12) -> float:
    """Train the model at `model_dir` (all its weights, in place) on `count` worked additions rendered as
    the profile renders them (`markers`: its chat template and prefilled reasoning), in rounds of 100
    steps, until greedy answers to 8 other additions have the exact format 7 times in 8; the share it
    reached."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.data.examples import to_sft_example
    from rlvr.data.prompts import chat_prompt, conversation_ids, format_template, prompt_ids
    from rlvr.verify.rewards import MatchFormatExactly

    tokenizer = format_template(AutoTokenizer.from_pretrained(model_dir), markers)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    texts = []
    for problem, solution, answer in additions(count, seed):
        example = to_sft_example({"problem": problem, "solution": solution, "answer": answer}, markers)
        texts.append(conversation_ids(tokenizer, example["prompt"] + example["completion"]))
    probes = [prompt_ids(tokenizer, chat_prompt(p, markers)) for p, _, _ in additions(8, seed + 1)]
    exact = MatchFormatExactly(markers)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(seed)
    share = 0.0
    for _ in range(max_rounds):
        model.train()
        for _ in range(100):
            batch = rng.sample(texts, 16)
            width = max(map(len, batch))
            ids = torch.tensor([t + [tokenizer.pad_token_id] * (width - len(t)) for t in batch])
            labels = torch.tensor([t + [-100] * (width - len(t)) for t in batch])
            loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            written = [
                model.generate(torch.tensor([ids]), max_new_tokens=48, do_sample=False)[0, len(ids) :]
                for ids in probes
            ]
        texts_out = [tokenizer.decode(w, skip_special_tokens=True) for w in written]
        share = sum(score == 3.0 for score in exact(texts_out)) / len(probes)
        if share >= 7 / 8:
            break
    model.save_pretrained(model_dir)
    return share


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
