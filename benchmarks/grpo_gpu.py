"""GRPO on a GPU: a plain TRL+PEFT script with TRL's defaults, Unsloth, and rlvr's settings, in one run.

    python -m benchmarks.grpo_gpu [--model DIR] [--steps 3] [--out grpo_gpu.json] [--budget-s 420]

Every setting trains the same model (SmolLM2-135M-Instruct from the embedded wheel, bf16), LoRA r=16 on
every projection, on the same prompts with the same seed, and steps of the same shape: 32 completions (4
prompts x 8) of up to 256 tokens. Printed per setting: seconds per optimizer step (whole generation rounds,
the first left out as warm-up), generated tokens per second while generating, and peak GPU memory.

Unsloth patches transformers and TRL when it is imported, so its settings run in a process of their own;
the others share one. A setting that fails is reported with its error, and the run goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

SHAPE = dict(batch_size=32, num_generations=8, max_completion_length=256, learning_rate=1e-5)
MAX_PROMPT_TOKENS = 256
# In the order they run (most telling first, so a spent time budget skips the least telling). `group` is
# the process a setting runs in; `plain` is the TRL+PEFT script a user would write; `rounds` overrides
# --steps where one round is slow and steady.
SETTINGS: dict[str, dict] = {
    "Unsloth": dict(group="unsloth", generation="generate", gradient_checkpointing=True),
    "Unsloth, 4 steps per generation": dict(
        group="unsloth", generation="generate", gradient_checkpointing=True, steps_per_generation=4
    ),
    "rlvr: compiled merged copy, 4 steps per generation": dict(
        group="trl", generation="compiled", steps_per_generation=4
    ),
    "TRL+PEFT, TRL's defaults": dict(group="trl", plain=True, rounds=2),
    "rlvr: compiled merged copy": dict(group="trl", generation="compiled"),
    "rlvr: compiled merged copy, 8 steps per generation": dict(
        group="trl", generation="compiled", steps_per_generation=8
    ),
    "rlvr: merged copy, 4 steps per generation": dict(
        group="trl", generation="merged", steps_per_generation=4
    ),
    "rlvr: merged copy": dict(group="trl", generation="merged"),
    "rlvr: continuous batching, 4 steps per generation": dict(
        group="trl", generation="continuous_batching", steps_per_generation=4
    ),
    "rlvr: generate, no checkpointing": dict(group="trl", generation="generate"),
}


def timed_generation(trainer) -> dict:
    """Wrap the trainer's generation call to count its seconds and generated tokens (first call left out:
    it compiles and captures graphs)."""
    import torch

    stats = {"seconds": 0.0, "tokens": 0, "calls": 0}
    original = trainer._generate_single_turn

    def generate(*args, **kwargs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        out = original(*args, **kwargs)
        torch.cuda.synchronize()
        if stats["calls"]:
            stats["seconds"] += time.perf_counter() - started
            stats["tokens"] += sum(len(ids) for ids in out[0])
        stats["calls"] += 1
        return out

    trainer._generate_single_turn = generate
    return stats


def run_setting(name: str, base: Path, steps: int, work: Path) -> dict:
    import torch

    from benchmarks.common import LORA, grpo_examples, plain_trl_trainer, step_timer
    from rlvr.config.schema import Markers, TrainParams
    from rlvr.training.models import load_trainable
    from rlvr.training.trainers import build_grpo_trainer
    from rlvr.verify.rewards import REWARDS, build_rewards

    spec = SETTINGS[name]
    per_round = spec.get("steps_per_generation", 1)
    params = TrainParams(
        **SHAPE,
        max_steps=spec.get("rounds", steps) * per_round,
        steps_per_generation=per_round,
        gradient_checkpointing=spec.get("gradient_checkpointing", False),
    )
    examples = grpo_examples(params.max_steps * params.batch_size // params.num_generations + 16)
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if spec.get("plain"):
        trainer = plain_trl_trainer(base, params, examples, work, use_cpu=False)
    else:
        backend = spec["group"]
        model, tokenizer, peft_config = load_trainable(
            base, "bfloat16", LORA, None, backend, MAX_PROMPT_TOKENS + params.max_completion_length,
            gradient_checkpointing=params.gradient_checkpointing,
        )  # fmt: skip
        trainer = build_grpo_trainer(
            model, tokenizer, peft_config, examples, build_rewards(list(REWARDS), Markers()),
            [1.0] * len(REWARDS), params, "bfloat16", backend, spec["generation"], MAX_PROMPT_TOKENS,
            work / "ck",
        )  # fmt: skip
    timer = step_timer()
    trainer.add_callback(timer)
    generation = timed_generation(trainer)
    trainer.train()
    return {
        "setting": name,
        "s_per_step": timer.cycle_mean(per_round),
        "generated_tokens_per_s": generation["tokens"] / max(generation["seconds"], 1e-9),
        "mean_completion_tokens": timer.mean_length(),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "steps": params.max_steps,
        "wall_s": time.perf_counter() - started,
    }


def child(names: list[str], base: Path, steps: int, deadline: float) -> None:
    """Run `names` in this process, printing one `RESULT {json}` line per setting."""
    if SETTINGS[names[0]]["group"] == "unsloth":
        import unsloth  # noqa: F401  (before transformers and TRL, which it patches)
    for name in names:
        if time.time() > deadline:
            result = {"setting": name, "error": "skipped: the run's time budget was spent"}
        else:
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    result = run_setting(name, base, steps, Path(tmp))
            except Exception as exc:  # a failed setting is a result too; the others still run
                traceback.print_exc()
                result = {"setting": name, "error": f"{type(exc).__name__}: {exc}"[:800]}
        print("RESULT " + json.dumps(result), flush=True)


def main(
    model: Path = typer.Option(None, help="Base model directory [default: the embedded model]."),
    steps: int = typer.Option(3, help="Generation rounds per setting; the first is left out as warm-up."),
    out: Path = typer.Option(Path("grpo_gpu.json"), help="Where to write the results as JSON."),
    budget_s: float = typer.Option(420.0, help="Settings not started within this many seconds are skipped."),
    only: list[str] = typer.Option(None, help="Run only these settings (by name)."),
    child_run: bool = typer.Option(False, "--child", hidden=True),
) -> None:
    import torch

    from benchmarks.common import embedded_model, print_table
    from rlvr.training.hardware import installed

    names = list(only or SETTINGS)
    if child_run:
        child(names, model, steps, time.time() + budget_s)
        return
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.grpo_gpu needs a CUDA GPU")
    base = model or embedded_model()
    deadline = time.time() + budget_s
    results: list[dict] = []
    runs: list[tuple[str, list[str]]] = []  # consecutive settings of one group share a process
    for name in names:
        group = SETTINGS[name]["group"]
        if runs and runs[-1][0] == group:
            runs[-1][1].append(name)
        else:
            runs.append((group, [name]))
    for group, members in runs:
        if group == "unsloth" and not installed("unsloth"):
            results += [{"setting": n, "error": "unsloth is not installed"} for n in members]
            continue
        command = [sys.executable, "-m", "benchmarks.grpo_gpu", "--child", "--model", str(base)]
        command += ["--steps", str(steps), "--budget-s", str(max(deadline - time.time(), 0))]
        command += [arg for n in members for arg in ("--only", n)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("RESULT "):
                results.append(json.loads(line.removeprefix("RESULT ")))
                record = {"device": torch.cuda.get_device_name(), "results": results}
                out.write_text(json.dumps(record, indent=2))
        process.wait()
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["setting"], "", "", "", "", r["error"][:60]])
            continue
        rows.append([
            r["setting"], f"{r['s_per_step']:.2f}", f"{r['generated_tokens_per_s']:,.0f}",
            f"{r['mean_completion_tokens']:.0f}", f"{r['peak_memory_gib']:.1f}", "",
        ])  # fmt: skip
    print_table(
        "GRPO on a GPU: SmolLM2-135M, bf16, LoRA r=16, 32 completions (4 x 8) of <= 256 tokens per step",
        ["setting", "s/step", "generated tokens/s", "mean completion tokens", "peak GiB", "error"],
        rows,
    )
    timed = [r for r in results if "s_per_step" in r]
    ours = [r for r in timed if r["setting"].startswith("rlvr")]
    unsloth = next((r for r in timed if r["setting"] == "Unsloth"), None)
    if ours and unsloth:
        fastest = min(ours, key=lambda r: r["s_per_step"])
        ratio = fastest["s_per_step"] / unsloth["s_per_step"]
        print(f"rlvr fastest ({fastest['setting']}) / Unsloth s/step: {ratio:.2f}")
    # the same steps per generation on both sides: the engine's share of the gain alone
    by_name = {r["setting"]: r for r in timed}
    pair = ("rlvr: compiled merged copy, 4 steps per generation", "Unsloth, 4 steps per generation")
    if all(name in by_name for name in pair):
        ratio = by_name[pair[0]]["s_per_step"] / by_name[pair[1]]["s_per_step"]
        print(f"rlvr compiled / Unsloth s/step, both at 4 steps per generation: {ratio:.2f}")


if __name__ == "__main__":
    typer.run(main)
