"""The seed recipe's rehearsal: its stand-ins have the hub assets' shape, the chat-template checks it led
to, and (slow) `make rehearse` end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from rehearsal.standins import build_qwen3, math500_snapshot, openr1_rows, openr1_snapshot
from rlvr.config.schema import Markers
from rlvr.data.prompts import format_template, template_problems
from rlvr.data.sources import load_benchmark, load_hub
from rlvr.data.suites import LAYOUTS
from rlvr.training.models import stop_ids
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    corpus = [f"{r['problem']} {r['solution']}" for r in openr1_rows(60, seed=0)]
    return build_qwen3(tmp_path_factory.mktemp("qwen3") / "Qwen3-tiny", corpus)


def problems_of(model_dir, markers: Markers) -> list[str]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return template_problems(format_template(tokenizer, markers), markers, stop_ids(model, tokenizer))


def test_the_qwen3_stand_in_is_a_qwen3_with_a_base_models_tokens(qwen3):
    model = AutoModelForCausalLM.from_pretrained(qwen3)
    tokenizer = AutoTokenizer.from_pretrained(qwen3)
    assert type(model).__name__ == "Qwen3ForCausalLM" and model.config.model_type == "qwen3"
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>" and tokenizer.bos_token is None
    assert {"<|im_start|>", "<|im_end|>", "<think>", "</think>"} <= set(tokenizer.get_vocab())


def test_qwen3s_own_template_would_teach_a_think_block_and_never_stop_a_base_model(qwen3):
    """What the rehearsal found: on Qwen3-4B-Base, the model's own template opens the answer with an empty
    `<think>` block and ends turns with `<|im_end|>`, on which a base model does not stop. The profile uses
    the notebook's plain template, which has neither problem."""
    found = problems_of(qwen3, Markers())
    assert len(found) == 2
    assert "writes '<think>\\n\\n</think>\\n\\n' before the answer" in found[0]
    assert "ends with '<|im_end|>\\n', and the model stops on none of its tokens" in found[1]
    assert problems_of(qwen3, Markers(prefill_reasoning=True, chat_template="plain")) == []


def test_the_embedded_defaults_chat_template_has_no_such_problem(tiny_model):
    assert problems_of(tiny_model, Markers()) == []
    assert problems_of(tiny_model, Markers(prefill_reasoning=True)) == []


def test_the_open_r1_and_math500_stand_ins_read_as_the_hub_repositories_do(tmp_path):
    openr1 = openr1_snapshot(tmp_path / "OpenR1-Math-220k", count=30)
    default = load_hub(str(openr1), config="default", revision=None, split="train", max_rows=None)
    extended = load_hub(str(openr1), config="extended", revision=None, split="train", max_rows=None)
    assert (len(default), len(extended)) == (20, 10)
    assert set(default[0]) == {"problem", "answer", "solution"}
    answers = {row["answer"] for row in default + extended}
    assert any("\\frac" in a for a in answers) and any("\\sqrt" in a for a in answers)
    math500 = math500_snapshot(tmp_path / "MATH-500", count=5)
    rows = load_benchmark(str(math500), LAYOUTS["math500"].columns, None, "pinned", "test", None)
    assert len(rows) == 5 and all(row["problem"] and row["answer"] for row in rows)


@pytest.mark.slow
def test_make_rehearse_runs_the_seed_recipe_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rehearsal", "--work", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("rehearsal: Qwen3ForCausalLM (qwen3")
    assert "arms evaluated: grpo, grpo_from_base" in last and "suites: heldout, math500" in last
    assert "registered: models:/rlvr-math/1" in last
    assert "grad_norm" in last and "resumed from step 2" in last  # `learning` fails the run otherwise
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # the profile's chat template passes its own checks, and the completions end within the limit
    assert [line for line in warned if "most groups scored all alike" not in line] == []
