"""A positive control for GRPO: the training loop learns when there is something learnable.

    python -m benchmarks.positive_control [--steps 30]

GRPO's gain on arithmetic accuracy is not shown at the embedded scale (docs/benchmarks.md). That could be
the recipe, or a broken loop; this tells them apart. The target here is within reach of a few dozen steps
and varies across a group's samples from the start: the answer's form, scored by rlvr's own
`match_format_approximately` (+0.5 per marker written once, -1.0 per marker missing or repeated), trained
from the embedded base model, which never writes the format on its own, with the reasoning marker
prefilled. Everything runs through the library the train stage uses (`load_trainable`,
`build_grpo_trainer`, `train_and_publish`, the reward by name). Before and after training, each of
`--heldout` problems the run never trained on is answered greedily and scored by the same reward; the
paired mean difference with its bootstrap 95% interval (`paired_comparison` on the per-problem rewards)
is the verdict: a working loop puts it above zero.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

from benchmarks.common import LORA, embedded_model
from rlvr.config.schema import Markers, TrainParams
from rlvr.data.examples import to_grpo_example
from rlvr.data.problems import make_problems
from rlvr.data.prompts import chat_prompt, format_template
from rlvr.evaluation.stats import paired_comparison
from rlvr.training.checkpoints import train_and_publish
from rlvr.training.decoding import generate
from rlvr.training.models import load_model, load_tokenizer, load_trainable
from rlvr.training.trainers import build_grpo_trainer
from rlvr.verify.rewards import build_rewards

MARKERS = Markers(prefill_reasoning=True)
REWARD = "match_format_approximately"


def scored(base: Path, adapter: Path | None, rows: list[dict]) -> list[float]:
    """The reward of each held-out problem's greedy answer."""
    model = load_model(base, "float32", adapter=adapter)
    tokenizer = format_template(load_tokenizer(base), MARKERS)
    prompts = [chat_prompt(row["problem"], MARKERS) for row in rows]
    completions, _ = generate(model, tokenizer, prompts, 48, batch_size=32, desc="held-out")
    return build_rewards([REWARD], MARKERS)[0](completions)


def main(
    steps: int = typer.Option(30, min=1, help="GRPO steps."),
    heldout: int = typer.Option(64, min=8, help="Held-out problems scored before and after."),
    out: Path = typer.Option(None, help="JSON file for the result."),
) -> None:
    base = embedded_model()
    rows = make_problems(400 + heldout, seed=77, levels=[1])
    train_rows, heldout_rows = rows[:400], rows[400:]
    before = scored(base, None, heldout_rows)
    params = TrainParams(
        max_steps=steps, learning_rate=1e-4, batch_size=16, num_generations=4, max_completion_length=48,
        temperature=1.0, rewards={REWARD: 1.0}, save_steps=steps, seed=0,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, tokenizer, peft_config = load_trainable(base, "float32", LORA, None, "trl", 512)
        trainer = build_grpo_trainer(
            model, format_template(tokenizer, MARKERS), peft_config,
            [to_grpo_example(row, MARKERS) for row in train_rows], build_rewards([REWARD], MARKERS), [1.0],
            params, "float32", "trl", "generate", 256, work / "ck",
        )  # fmt: skip
        summary = train_and_publish(trainer, work / "ck", work / "adapter", work / "log.json", {})
        after = scored(base, work / "adapter", heldout_rows)
        log = json.loads((work / "log.json").read_text())
    comparison = paired_comparison(before, after, names=("base", "grpo"))
    curve = [round(row[f"rewards/{REWARD}/mean"], 2) for row in log if f"rewards/{REWARD}/mean" in row]
    result = {
        "reward": REWARD,
        "steps": steps,
        "train_minutes": round(summary["train_runtime_s"] / 60, 1),
        "heldout": heldout,
        "mean_before": sum(before) / len(before),
        "mean_after": sum(after) / len(after),
        "paired": comparison,
        "training_reward_per_step": curve,
    }
    print(json.dumps(result, indent=2))
    verdict = "learns" if comparison["ci_low"] > 0 else "shows no gain"
    print(
        f"positive control: {REWARD} on {heldout} held-out problems, {result['mean_before']:.2f} -> "
        f"{result['mean_after']:.2f}, paired difference {comparison['delta']:+.2f} "
        f"[{comparison['ci_low']:+.2f}, {comparison['ci_high']:+.2f}]: the loop {verdict}"
    )
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    typer.run(main)
