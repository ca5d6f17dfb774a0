"""The GPU paths, run for real on a CUDA machine: GRPO with each generation engine, the Unsloth backend
through the train stage, its adapter loaded for evaluation and for serving, the evaluate stage on the GPU.

Marked `gpu`: skipped without CUDA. The Unsloth and vLLM tests also skip where their package is missing.
Unsloth patches transformers and TRL when it is imported, so it only ever runs in a stage subprocess
here: this process keeps plain TRL+PEFT for the other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rlvr.config.schema import LoraParams, Markers, TrainParams
from rlvr.contracts import AdapterManifest
from rlvr.data.examples import to_grpo_example
from rlvr.data.prompts import chat_prompt
from rlvr.evaluation.scoring import models_of
from rlvr.files import read_log
from rlvr.serving.answerer import Answerer
from rlvr.training.checkpoints import train_and_publish
from rlvr.training.decoding import generate
from rlvr.training.hardware import installed, select_backend, select_generation
from rlvr.training.models import load_model, load_tokenizer, load_trainable
from rlvr.training.trainers import build_grpo_trainer
from rlvr.verify.rewards import REWARDS, build_rewards
from tests.stages import ROOT, ROWS, evaluate_stage, stage_project, train_stage
from tests.tiny import DigitShare, build_tiny_model, lora_weights

pytestmark = pytest.mark.gpu
EXAMPLES = [to_grpo_example(row, Markers()) for row in ROWS]
needs_unsloth = pytest.mark.skipif(not installed("unsloth"), reason="needs unsloth (pip install -e .[gpu])")


@pytest.fixture(scope="module")
def gpu_tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("gpu") / "base", hidden=64)


def grpo(base: Path, out: Path, generation: str, backend: str = "trl", **overrides) -> dict:
    """Two GRPO steps in this process, logged where the evaluate stage looks (`logs/<arm>.json` beside the
    adapters' folder); the LoRA weights must change, on the GPU. DigitShare gives the random tiny model's
    completions different rewards on every step, not only when a marker happens to come out."""
    lora = LoraParams(r=4, alpha=8)
    model, tokenizer, peft_config = load_trainable(base, "bfloat16", lora, None, backend, 512)
    params = TrainParams(
        max_steps=2, batch_size=4, num_generations=4, max_completion_length=8, learning_rate=0.01, **overrides
    )
    trainer = build_grpo_trainer(
        model,
        tokenizer,
        peft_config,
        EXAMPLES,
        [*build_rewards(list(REWARDS), Markers()), DigitShare()],
        [1.0] * (len(REWARDS) + 1),
        params,
        "bfloat16",
        backend,
        generation,
        256,
        out.parent / f"ck-{out.name}",
    )
    before = lora_weights(trainer.model)
    log = out.parent.parent / "logs" / f"{out.name}.json"
    summary = train_and_publish(
        trainer, out.parent / f"ck-{out.name}", out, log, AdapterManifest(stage="train", trained=True)
    )
    after = lora_weights(trainer.model)
    assert summary["steps"] == 2 and (out / "adapter_config.json").is_file()
    assert all(v.is_cuda for v in after.values())
    assert any(not torch.equal(after[k].cpu(), v.cpu()) for k, v in before.items()), "no LoRA weight moved"
    return summary


def test_auto_choices_on_a_gpu():
    assert select_backend("auto") == ("unsloth" if installed("unsloth") else "trl")
    assert select_generation("auto", "trl") == ("vllm" if installed("vllm") else "compiled")
    assert select_generation("auto", "unsloth") == ("vllm" if installed("vllm") else "generate")


@pytest.mark.parametrize(
    ("generation", "overrides"),
    [
        ("generate", {}),
        ("merged", {}),
        ("merged", {"steps_per_generation": 2}),
        ("compiled", {}),
        ("compiled", {"steps_per_generation": 2}),
        ("continuous_batching", {}),
        ("continuous_batching", {"steps_per_generation": 2}),
    ],
)
def test_trl_backend_trains_with_each_engine(gpu_tiny, tmp_path, generation, overrides):
    grpo(gpu_tiny, tmp_path / "models" / "grpo", generation, **overrides)


def test_both_engines_decode_the_same_greedy_answers(gpu_tiny, tmp_path):
    """In fp32 (the adapter merged into the weights) every engine picks the same argmax at every step, the
    compiled one through its CUDA graphs too."""
    grpo(gpu_tiny, tmp_path / "models" / "grpo", "generate")
    tokenizer = load_tokenizer(gpu_tiny)
    prompts = [chat_prompt(row["problem"], Markers()) for row in ROWS[:8]]
    answers = {}
    for engine in ("generate", "merged", "compiled", "continuous_batching"):
        model = load_model(gpu_tiny, "float32", adapter=tmp_path / "models" / "grpo").to("cuda")
        answers[engine] = generate(model, tokenizer, prompts, 12, batch_size=4, engine=engine)
    texts, lengths = answers["generate"]
    assert len(texts) == 8 and all(0 < n <= 12 for n in lengths)
    assert answers["merged"] == answers["generate"]
    assert answers["compiled"] == answers["generate"]
    assert answers["continuous_batching"] == answers["generate"]


@needs_unsloth
def test_unsloth_backend_trains_and_its_adapter_evaluates_and_serves(gpu_tiny, tmp_path):
    """Unsloth trains in a process of its own (it patches what it imports); its adapter then loads with
    plain PEFT for serving and for the evaluate stage."""
    project = stage_project(tmp_path, gpu_tiny, train={"backend": "trl"})
    out = project / "models" / "grpo"
    script = (
        "import unsloth; from pathlib import Path; from tests.test_gpu import grpo; "
        f"grpo(Path({str(gpu_tiny)!r}), Path({str(out)!r}), 'generate', backend='unsloth')"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    weights = load_file(project / "models" / "grpo" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())  # B starts at zero

    answerer = Answerer.load(project / "models" / "grpo", str(gpu_tiny), None, "bfloat16", Markers(), 8)
    assert next(answerer.model.parameters()).is_cuda and answerer.engine == "merged"
    answers = answerer.complete(["What is 2 + 3?", "What is 40 + 2?"])
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert "decoding with merged" in evaluate_stage(project)
    assert set(json.loads((project / "eval.json").read_text())) == {"base", "grpo", "comparisons"}


@needs_unsloth
def test_train_stage_runs_on_the_unsloth_backend(gpu_tiny, tmp_path):
    project = stage_project(tmp_path, gpu_tiny, train={"backend": "unsloth"})
    assert "unsloth backend, bfloat16, generation with generate" in train_stage(project)
    manifest = json.loads((project / "models" / "grpo" / "rlvr_adapter.json").read_text())
    assert manifest["backend"] == "unsloth" and manifest["steps"] == 2
    assert [row["step"] for row in read_log(project / "logs" / "grpo.json")] == [1, 2]


@pytest.mark.parametrize("generation", ["compiled", "continuous_batching"])
def test_evaluate_stage_decodes_on_the_gpu(gpu_tiny, tmp_path, generation):
    """Evaluation decodes with the engine GRPO sampled with."""
    project = stage_project(tmp_path, gpu_tiny, train={"backend": "trl", "generation": generation})
    grpo(gpu_tiny, project / "models" / "grpo", generation)
    output = evaluate_stage(project)
    assert f"bfloat16 on cuda, decoding with {generation}" in output
    metrics = models_of(json.loads((project / "eval.json").read_text()))
    assert set(metrics) == {"base", "grpo"} and all(m["problems"] == 8 for m in metrics.values())
    assert len((project / "predictions.jsonl").read_text().splitlines()) == 16


@pytest.mark.skipif(not installed("vllm"), reason="needs vllm")
def test_trl_backend_with_vllm_generation_trains(gpu_tiny, tmp_path):
    grpo(gpu_tiny, tmp_path / "models" / "grpo", "vllm")
