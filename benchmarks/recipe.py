"""The embedded recipe study: does GRPO raise held-out accuracy over the model it starts from, on 2 CPU cores?

    python -m benchmarks.recipe --start sft --steps 20 --lr 3e-5 [--prompts 2 --group 8 --tokens 48 ...]

One run: the SFT adapter of the pipeline's default SFT params (trained once, cached under --work), then
GRPO from it (or from the base model) with the given settings, then greedy evaluation of the starting
model and the trained one on --heldout freshly generated problems that are not in the training set, and
their paired comparison (bootstrap 95% interval, McNemar p). Each run appends one JSON line to --out, so
docs/benchmarks.md can tabulate every setting tried. `--eval-every N` also evaluates every N steps (the
curve of held-out accuracy against steps and minutes). `--steps 0 --sft-steps N` trains SFT alone for N
steps and compares it with the default SFT on the same problems (SFT given GRPO's extra time).

Runs may share --work and run at the same time (`make showcase` does): each trains in its own scratch
folder, and a data seed's SFT adapter and its scores on the held-out problems are made once, under a lock.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
from filelock import FileLock

from benchmarks.common import embedded_model
from rlvr.config.schema import LoraParams, Markers, SftParams, TrainParams
from rlvr.data.examples import to_grpo_example, to_sft_example
from rlvr.data.prepare import problem_id
from rlvr.data.problems import make_problems
from rlvr.data.prompts import chat_prompt, format_template
from rlvr.evaluation.scoring import score_completions, summarise
from rlvr.evaluation.stats import fixed_and_broken, paired_comparison
from rlvr.training.checkpoints import train_and_publish
from rlvr.training.decoding import generate
from rlvr.training.models import load_model, load_tokenizer, load_trainable
from rlvr.training.trainers import build_grpo_trainer, build_sft_trainer
from rlvr.verify.rewards import build_rewards

MARKERS = Markers()
PREFILLED = Markers(prefill_reasoning=True)


def split(
    train: int, heldout: int, levels: list[int], kinds: list[str], data_seed: int = 0
) -> tuple[list[dict], list[dict]]:
    rows = make_problems(train + 2 * heldout, seed=data_seed, levels=levels, kinds=kinds)
    train_rows = rows[:train]
    seen = {problem_id(r["problem"]) for r in train_rows}
    fresh = [r for r in make_problems(4 * heldout, seed=12345 + data_seed, levels=levels, kinds=kinds)]
    fresh = [r for r in fresh if problem_id(r["problem"]) not in seen]
    return train_rows, fresh[:heldout]


def sft_adapter(base: Path, rows: list[dict], work: Path, steps: int) -> Path:
    default = steps == SftParams().max_steps
    out = work / ("sft" if default else f"sft-{steps}")
    if (out / "adapter_config.json").is_file():
        return out
    params = SftParams(max_steps=steps)
    model, tokenizer, peft_config = load_trainable(
        base, "float32", LoraParams(), None, "trl", params.max_length
    )
    examples = [e for r in rows if (e := to_sft_example(r, MARKERS))]
    trainer = build_sft_trainer(
        model, tokenizer, peft_config, examples, params, "float32", "trl", work / "ck-sft"
    )
    train_and_publish(trainer, work / "ck-sft", out, out.with_suffix(".json"), {})
    return out


def evaluate(base: Path, adapter: Path | None, rows: list[dict], tokens: int, markers: Markers) -> list[dict]:
    model = load_model(base, "float32", adapter=adapter)
    prompts = [chat_prompt(r["problem"], markers) for r in rows]
    tokenizer = format_template(load_tokenizer(base), markers)
    completions, lengths = generate(model, tokenizer, prompts, tokens, batch_size=32, desc="heldout")
    return score_completions(completions, [r["answer"] for r in rows], lengths, markers)


def main(
    start: str = typer.Option("sft", help="sft or base"),
    steps: int = typer.Option(20),
    lr: float = typer.Option(3e-5),
    prompts: int = typer.Option(2, help="Prompts per step."),
    group: int = typer.Option(8, help="Completions per prompt."),
    tokens: int = typer.Option(48, help="Max completion tokens."),
    temperature: float = typer.Option(1.0),
    loss_type: str = typer.Option("dapo"),
    scale_rewards: str = typer.Option("group"),
    rewards: str = typer.Option(
        "match_format_exactly,match_format_approximately,check_answer,check_numbers,accuracy"
    ),
    weights: str = typer.Option("", help="Comma-separated weights, one per reward (default all 1)."),
    levels: str = typer.Option("1"),
    kinds: str = typer.Option("arithmetic"),
    heldout: int = typer.Option(300),
    eval_every: int = typer.Option(0, help="Also evaluate every N steps (0: only at the end)."),
    work: Path = typer.Option(Path("/tmp/rlvr-recipe")),
    out: Path = typer.Option(Path("/tmp/rlvr-recipe/results.jsonl")),
    label: str = typer.Option(""),
    prefill: bool = typer.Option(False, help="format.prefill_reasoning: the prompt opens the reasoning."),
    sft_steps: int = typer.Option(SftParams().max_steps, help="SFT steps (more: SFT given GRPO's time)."),
    seed: int = typer.Option(0, help="GRPO's seed (sampling, data order): replicates of one setting."),
    data_seed: int = typer.Option(0, help="The problems' seed: other training rows, SFT adapter, held-out."),
) -> None:
    base = embedded_model()
    markers = PREFILLED if prefill else MARKERS
    level_list, kind_list = [int(x) for x in levels.split(",")], kinds.split(",")
    data = work / (f"{kinds}-{levels}" + (f"-data{data_seed}" if data_seed else ""))
    data.mkdir(parents=True, exist_ok=True)
    train_rows, heldout_rows = split(600, heldout, level_list, kind_list, data_seed)
    sft_tag = "" if sft_steps == SftParams().max_steps else f"{sft_steps}"
    cache = data / f"eval-{start}{sft_tag}-{heldout}-{tokens}{'-prefill' if prefill else ''}.json"
    with FileLock(data / "prepare.lock"):  # another run on this data seed may be making them now
        sft = sft_adapter(base, train_rows, data, sft_steps)
        origin = sft if start == "sft" else None
        if not cache.is_file():
            partial = cache.with_suffix(".partial")
            partial.write_text(json.dumps(evaluate(base, origin, heldout_rows, tokens, markers)))
            partial.rename(cache)
    before = json.loads(cache.read_text())
    if steps == 0:  # SFT alone, given more steps: against the default SFT, on the same problems
        reference = json.loads((data / f"eval-sft-{heldout}-{tokens}.json").read_text())
        result = {"label": label, "start": start, "steps": 0, "sft_steps": sft_steps,
                  **record(reference, before, 0, 0.0), "correct": [s["correct"] for s in before]}  # fmt: skip
        with out.open("a") as f:
            f.write(json.dumps(result) + "\n")
        print("RESULT", json.dumps(result), flush=True)
        return
    names = rewards.split(",")
    scratch = Path(tempfile.mkdtemp(prefix=f"grpo-seed{seed}-", dir=data))
    params = TrainParams(
        max_steps=steps, learning_rate=lr, batch_size=prompts * group, num_generations=group,
        max_completion_length=tokens, temperature=temperature, loss_type=loss_type,
        scale_rewards=scale_rewards, save_steps=max(1, eval_every or steps), seed=seed,
    )  # fmt: skip
    model, tokenizer, peft_config = load_trainable(base, "float32", LoraParams(), origin, "trl", 512)
    tokenizer = format_template(tokenizer, markers)
    reward_weights = [float(w) for w in weights.split(",")] if weights else [1.0] * len(names)
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, [to_grpo_example(r, markers) for r in train_rows],
        build_rewards(names, markers), reward_weights, params, "float32", "trl", "generate", 256,
        scratch / "ck",
    )  # fmt: skip
    run = scratch / "adapter"
    started = time.perf_counter()
    curve, probing = [], [0.0]  # probing: seconds spent evaluating, not training
    if eval_every:
        import torch
        from transformers import TrainerCallback

        class Probe(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step % eval_every == 0 and state.global_step < steps:
                    began = time.perf_counter()
                    probe = scratch / f"probe-{state.global_step}"
                    trainer.model.save_pretrained(probe)  # evaluated as a fresh copy, merged there
                    # loading the copy draws LoRA's initial weights from torch's generator: restore it, so
                    # the training run is the same with probes as without
                    with torch.random.fork_rng():
                        scores = evaluate(base, probe, heldout_rows, tokens, markers)
                    training = began - started - probing[0]
                    curve.append(record(before, scores, state.global_step, training))
                    probing[0] += time.perf_counter() - began
                    print("CURVE", json.dumps(curve[-1]), flush=True)

        trainer.add_callback(Probe())
    manifest = train_and_publish(trainer, scratch / "ck", run, run.with_suffix(".json"), {})
    train_s = manifest["train_runtime_s"] - probing[0]
    after = evaluate(base, run, heldout_rows, tokens, markers)
    result = {
        "label": label, "start": start, "steps": steps, "lr": lr, "prompts": prompts, "group": group,
        "tokens": tokens, "temperature": temperature, "loss_type": loss_type, "scale_rewards": scale_rewards,
        "rewards": rewards, "weights": weights, "levels": levels, "kinds": kinds, "prefill": prefill,
        "sft_steps": sft_steps, "seed": seed, "data_seed": data_seed, "curve": curve,
        "train_s": train_s, **record(before, after, steps, train_s),
        "correct": [s["correct"] for s in after],
    }  # fmt: skip
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    print("RESULT", json.dumps(result), flush=True)


def record(before: list[dict], after: list[dict], steps: int, seconds: float) -> dict:
    b, a = [s["correct"] for s in before], [s["correct"] for s in after]
    fixed, broken = fixed_and_broken(b, a)
    return {
        "at_step": steps, "minutes": round(seconds / 60, 2),
        "before": summarise(before), "after": summarise(after),
        "comparison": paired_comparison(b, a, names=("start", "grpo")), "fixed": fixed, "broken": broken,
    }  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
