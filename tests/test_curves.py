"""The learning curve on the tiny model: points every N steps, measured as the evaluate stage measures."""

from __future__ import annotations

import json
from functools import partial

from rlvr.config.schema import LoraParams, Markers, SftParams
from rlvr.contracts import AdapterManifest
from rlvr.data.examples import to_sft_example
from rlvr.data.problems import make_problems
from rlvr.data.prompts import chat_prompt
from rlvr.evaluation.curves import learning_curve, measure
from rlvr.evaluation.scoring import score_completions, summarise
from rlvr.training.checkpoints import train_and_publish
from rlvr.training.decoding import generate
from rlvr.training.models import load_model, load_trainable
from rlvr.training.trainers import build_sft_trainer

ROWS = make_problems(24, seed=3, levels=[1])
HELDOUT = make_problems(6, seed=9, levels=[1])
LORA = LoraParams(r=4, alpha=8)
M = Markers()


def sft_trainer(tiny_model, checkpoints, max_steps: int):
    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LORA, None, "trl", 512)
    examples = [to_sft_example(row, M) for row in ROWS]
    params = SftParams(max_steps=max_steps, batch_size=4, max_length=320, learning_rate=0.01)
    return build_sft_trainer(model, tokenizer, peft_config, examples, params, "float32", "trl", checkpoints)


def test_the_curve_has_its_points_and_measures_as_the_evaluate_stage(tiny_model, tmp_path):
    trainer = sft_trainer(tiny_model, tmp_path / "ck", max_steps=3)
    tokenizer = trainer.processing_class
    curve = partial(learning_curve, tokenizer, HELDOUT, M, 2, 8, 4)
    train_and_publish(
        trainer,
        tmp_path / "ck",
        tmp_path / "sft",
        tmp_path / "sft.json",
        AdapterManifest(stage="sft", trained=True),
        curve_out=tmp_path / "curve.json",
        curve=curve,
    )
    points = json.loads((tmp_path / "curve.json").read_text())
    assert [point["step"] for point in points] == [0, 2, 3]  # before the first step, every 2, the last
    assert all(point["problems"] == len(HELDOUT) for point in points)
    assert [point["minutes"] for point in points] == sorted(point["minutes"] for point in points)
    assert points[0]["minutes"] == 0 and points[-1]["minutes"] > 0

    # The last point is the published adapter, decoded and scored the evaluate stage's way: merged, batched.
    merged = load_model(tiny_model, "float32", adapter=tmp_path / "sft").merge_and_unload()
    prompts = [chat_prompt(row["problem"], M) for row in HELDOUT]
    completions, lengths = generate(merged, tokenizer, prompts, max_new_tokens=8, batch_size=4)
    evaluated = summarise(score_completions(completions, [row["answer"] for row in HELDOUT], lengths, M))
    assert (points[-1]["accuracy"], points[-1]["format"]) == (evaluated["accuracy"], evaluated["format"])
    unmerged = load_model(tiny_model, "float32", adapter=tmp_path / "sft")
    unmerged.train()
    _, measured_completions = measure(unmerged, tokenizer, HELDOUT, M, 8, 4)
    assert measured_completions == completions
    assert unmerged.training and hasattr(unmerged, "merge_and_unload")  # left training, adapter unmerged


def test_no_curve_adds_no_callback_and_an_empty_curve(tiny_model, tmp_path):
    trainer = sft_trainer(tiny_model, tmp_path / "ck", max_steps=1)
    train_and_publish(
        trainer,
        tmp_path / "ck",
        tmp_path / "sft",
        tmp_path / "sft.json",
        AdapterManifest(stage="sft", trained=True),
        curve_out=tmp_path / "curve.json",
    )
    assert json.loads((tmp_path / "curve.json").read_text()) == []
    assert not any(type(c).__name__ == "LearningCurve" for c in trainer.callback_handler.callbacks)
