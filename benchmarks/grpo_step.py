"""The cost of a GRPO step on this machine's CPU: a plain TRL script with TRL's default GRPOConfig against
rlvr's train stage, per generated token, measured robustly, and against the machine's own limit.

    python -m benchmarks.grpo_step [--steps 6 --repeats 3] [--set train.generation=merged ...]
        [--variant train.shared_prefix=false --variant model.dtype=float32,train.shared_prefix=false ...]

Both sides train the embedded model (SmolLM2-135M-Instruct) with a fresh LoRA (r=16, every projection) on
the same prompts with the same seed, and the same shape of step: 16 completions (4 prompts x 4) of up
to 48 tokens, the embedded default's. The plain script sets only that shape; everything else is TRL's
default (bf16 autocast, gradient checkpointing). rlvr's side is the real `tasks.train` stage on the
embedded default's params (plus any `--set`), in a process of its own.

The sides alternate, `--repeats` times (TRL, rlvr, TRL, rlvr, ...), each run measuring `--steps` steps
after a warm-up step, so drift in the machine's speed hits both alike. Each `--variant` (comma-separated
key=value on top of `--set`) is one more rlvr side in the same rotation: levers measured one at a time
against the same TRL runs. A step's cost per token is its
time (TRL's `step_time`) over the completion tokens it generated; each run's cost is the median over its
steps; each repeat gives one ratio rlvr / TRL, and the ratio printed is the median over repeats with
their range.

Roofline: the step's useful arithmetic, from the parameters its matmuls use (the LM head included) and
its tokens: sampling 2 N per token (each distinct prompt once, every generated token), training 4 N per
token (the forward and the activations' backward; the frozen base needs no weight gradients), over the
measured time, divided by this machine's matmul throughput at the same dtype and threads, measured in
the same run. The training phase is the step less its sampling (`time/sampling_s`, which rlvr's trainer
logs; the plain TRL side gets the same timer). The last line printed is `rlvr/trl cost per token: <ratio>`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
import yaml

from benchmarks.common import embedded_model, grpo_examples, plain_trl_trainer, print_table
from rlvr.config.schema import Markers, TrainParams, parse_params
from rlvr.training.hardware import resolve_dtype, resolve_shared_prefix, speed_flags

SHAPE = dict(batch_size=16, num_generations=4, max_completion_length=48)
PROBLEMS = 64


def matmul_flops(dtype: str, size: int = 1024, repeats: int = 20) -> float:
    """This machine's matmul throughput (FLOP/s) at `dtype` on torch's current threads: the median of
    `repeats` products of two `size` x `size` matrices."""
    import torch

    a = torch.randn(size, size, dtype=getattr(torch, dtype))
    b = torch.randn(size, size, dtype=getattr(torch, dtype))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


def matmul_parameters(base: Path) -> int:
    """Parameters a token's forward multiplies by: every linear layer's weights and the LM head."""
    config = json.loads((base / "config.json").read_text())
    d, layers, inner = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    heads, kv = (
        config["num_attention_heads"],
        config.get("num_key_value_heads", config["num_attention_heads"]),
    )
    head_dim = config.get("head_dim") or d // heads
    attention = d * heads * head_dim * 2 + d * kv * head_dim * 2
    return layers * (attention + 3 * d * inner) + d * config["vocab_size"]


def prompt_tokens(base: Path, formats: dict[str, Markers]) -> dict[str, float]:
    """The mean prompt length of the benchmark's problems under each side's format, chat template and
    system prompt included."""
    from rlvr.data.prompts import chat_prompt, prompt_ids
    from rlvr.training.models import load_tokenizer

    tokenizer = load_tokenizer(base)
    rows = [example["problem"] for example in grpo_examples(PROBLEMS)]
    return {
        name: statistics.mean(len(prompt_ids(tokenizer, chat_prompt(p, markers))) for p in rows)
        for name, markers in formats.items()
    }


def plain_trl(base: Path, steps: int, out: Path) -> None:
    """The plain TRL side, in this process, with rlvr's sampling timer (`RlvrGRPOTrainer` with every switch
    off: TRL's own trainer): its log history goes to `out`."""
    from rlvr.training.grpo_trainer import RlvrGRPOTrainer

    params = TrainParams(**SHAPE, max_steps=steps)
    trainer = plain_trl_trainer(
        base, params, grpo_examples(PROBLEMS), out.parent, use_cpu=True, cls=RlvrGRPOTrainer
    )
    trainer.train()
    out.write_text(json.dumps(trainer.state.log_history))


def stage_params(steps: int, overrides: dict) -> dict:
    """The params file of rlvr's side: the benchmark's shape of step and the side's overrides; every other
    key is the embedded default's (the schema's defaults)."""
    params = {"train": {**SHAPE, "max_steps": steps, **overrides.get("train", {})}}
    return params | {key: value for key, value in overrides.items() if key != "train"}


def rlvr_stage(base: Path, steps: int, work: Path, overrides: dict) -> list[dict]:
    """rlvr's train stage on the embedded default's params, with the benchmark's shape of step."""
    from rlvr.data.problems import make_problems
    from rlvr.files import read_log, write_jsonl

    write_jsonl(make_problems(PROBLEMS, seed=1, levels=[1]), work / "data" / "train.jsonl")
    (work / "sft").mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(stage_params(steps, overrides)))
    command = [
        sys.executable, "-m", "tasks.train", "--params", str(work / "params.yaml"),
        "--data", str(work / "data"), "--base", str(base), "--sft", str(work / "sft"),
        "--out", str(work / "grpo"), "--log", str(work / "grpo.json"), "--checkpoints", str(work / "ck"),
    ]  # fmt: skip
    subprocess.run(command, check=True, env=os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{work}/m.db"})
    return read_log(work / "grpo.json")


def measured(log: list[dict]) -> list[dict]:
    """The steps after the warm-up one, with their times and lengths."""
    return [row for row in log if "step_time" in row and "completions/mean_length" in row][1:]


def cost(rows: list[dict]) -> float:
    """Median ms per generated token over the measured steps."""
    return statistics.median(
        1000 * row["step_time"] / (SHAPE["batch_size"] * row["completions/mean_length"]) for row in rows
    )


def utilisation(rows: list[dict], n: int, prompt: float, shared: bool, peak: float) -> tuple[float, float]:
    """(whole step, training phase) useful FLOP/s over the machine's matmul FLOP/s, medians over steps."""
    groups = SHAPE["batch_size"] // SHAPE["num_generations"]
    whole, training = [], []
    for row in rows:
        generated = SHAPE["batch_size"] * row["completions/mean_length"]
        sampling_flops = 2 * n * (groups * prompt + generated)
        trained_prompts = groups * prompt if shared else SHAPE["batch_size"] * prompt
        training_flops = 4 * n * (trained_prompts + generated)
        train_s = row["step_time"] - row["time/sampling_s"]
        whole.append((sampling_flops + training_flops) / row["step_time"] / peak)
        training.append(training_flops / train_s / peak)
    return statistics.median(whole), statistics.median(training)


def nested(items: list[str]) -> dict:
    """`key.sub=value` overrides as nested params (values read as YAML).

    >>> nested(["train.shared_prefix=true", "model.dtype=float32"])
    {'train': {'shared_prefix': True}, 'model': {'dtype': 'float32'}}
    """
    out: dict = {}
    for item in items:
        key, _, text = item.partition("=")
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return out


def main(
    steps: int = typer.Option(6, min=2, help="Steps per run; the first is left out as warm-up."),
    repeats: int = typer.Option(3, min=1, help="Runs per side, alternating."),
    set_params: list[str] = typer.Option([], "--set", help="rlvr params for its side, key=value."),
    variants: list[str] = typer.Option(
        [], "--variant", help="One more rlvr side: comma-separated key=value on top of --set."
    ),
    side: str = typer.Option("", hidden=True),
    out: Path = typer.Option(None, hidden=True),
) -> None:
    base = embedded_model()
    if side == "trl":
        plain_trl(base, steps, out)
        return
    configs = {"rlvr": set_params} | {
        f"variant {i + 1}": [*set_params, *v.split(",")] for i, v in enumerate(variants)
    }
    overrides = {name: nested(items) for name, items in configs.items()}
    ratios: dict[str, list[float]] = {name: [] for name in configs}
    sides: dict[str, list[dict]] = {"trl": []} | {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            work = Path(tmp) / str(repeat)
            work.mkdir()
            subprocess.run(
                [sys.executable, "-m", "benchmarks.grpo_step", "--side", "trl", "--steps", str(steps),
                 "--out", str(work / "trl.json")],
                check=True,
            )  # fmt: skip
            trl_rows = measured(json.loads((work / "trl.json").read_text()))
            sides["trl"] += trl_rows
            for index, (name, settings) in enumerate(overrides.items()):
                rows = measured(rlvr_stage(base, steps, work / f"rlvr{index}", settings))
                sides[name] += rows
                ratios[name].append(cost(rows) / cost(trl_rows))
                print(f"repeat {repeat + 1}: {name} / trl {ratios[name][-1]:.2f}", flush=True)
    effective = {name: parse_params(stage_params(steps, settings)) for name, settings in overrides.items()}
    dtypes = {name: resolve_dtype(params.model.dtype) for name, params in effective.items()}
    n = matmul_parameters(base)
    prompts = prompt_tokens(base, {"trl": Markers()} | {name: p.format for name, p in effective.items()})
    peaks = {dtype: matmul_flops(dtype) for dtype in {"bfloat16", *dtypes.values()}}
    rows_out = [
        ("plain TRL script, TRL's default GRPOConfig (bf16 autocast, gradient checkpointing)", "trl",
         "bfloat16", False),
    ] + [
        (f"{name}: rlvr train stage ({', '.join([dtypes[name], *configs[name]])})", name, dtypes[name],
         resolve_shared_prefix(params.train.shared_prefix))
        for name, params in effective.items()
    ]  # fmt: skip
    table = []
    for label, name, dtype, shares in rows_out:
        rows = sides[name]
        whole, training = utilisation(rows, n, prompts[name], shares, peaks[dtype])
        spread = (
            ""
            if name == "trl"
            else f"{statistics.median(ratios[name]):.2f} ({min(ratios[name]):.2f}-{max(ratios[name]):.2f})"
        )
        table.append([
            label, f"{statistics.median(r['step_time'] for r in rows):.1f}",
            f"{statistics.median(r['time/sampling_s'] for r in rows):.1f}",
            f"{statistics.mean(r['completions/mean_length'] for r in rows):.1f}", f"{cost(rows):.0f}",
            spread, f"{100 * whole:.1f}%", f"{100 * training:.1f}%",
        ])  # fmt: skip
    print_table(
        f"GRPO step on CPU (SmolLM2-135M, LoRA r=16, {SHAPE['batch_size']} completions x <= "
        f"{SHAPE['max_completion_length']} tokens; {repeats} alternating runs of {steps - 1} measured steps "
        "each)",
        [
            "setup",
            "s/step",
            "sampling s",
            "completion tokens",
            "ms per token",
            "/ TRL (range over repeats)",
            "step / peak",
            "training / peak",
        ],
        table,
    )
    print(
        f"matmul peak here: {', '.join(f'{d} {p / 1e9:.0f} GFLOP/s' for d, p in sorted(peaks.items()))}; "
        f"{n / 1e6:.0f}M matmul parameters; prompt tokens "
        f"{', '.join(f'{name} {length:.0f}' for name, length in prompts.items())}; CPU flags: {speed_flags()}"
    )
    print(
        f"ratios per repeat: {', '.join(f'{r:.2f}' for r in ratios['rlvr'])} "
        f"(range {min(ratios['rlvr']):.2f}-{max(ratios['rlvr']):.2f})"
    )
    print(f"rlvr/trl cost per token: {statistics.median(ratios['rlvr']):.2f}")


if __name__ == "__main__":
    typer.run(main)
