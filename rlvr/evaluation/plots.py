"""The evaluation stage's PNG plots: before/after bars and training curves (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rlvr.evaluation.scoring import models_of  # noqa: E402


def plot_comparison(metrics: Mapping, path: Path) -> None:
    """Grouped bars of held-out accuracy (with its 95% interval) and format compliance, one group per
    model."""
    models = models_of(metrics)
    names = list(models)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.5))
    width = 0.38
    accuracy = [100 * models[n]["accuracy"] for n in names]
    errors = [
        [a - 100 * models[n]["accuracy_ci_low"] for a, n in zip(accuracy, names, strict=True)],
        [100 * models[n]["accuracy_ci_high"] - a for a, n in zip(accuracy, names, strict=True)],
    ]
    x = range(len(names))
    bars = ax.bar(
        [i - width / 2 for i in x], accuracy, width, yerr=errors, capsize=3, label="accuracy (95% CI)"
    )
    ax.bar_label(bars, fmt="%.0f%%", fontsize=8, padding=6)
    bars = ax.bar(
        [i + width / 2 for i in x], [100 * models[n]["format"] for n in names], width, label="format"
    )
    ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks(list(x), names)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% of held-out problems")
    ax.set_title(f"Before and after training ({models[names[0]]['problems']} problems)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training(arm_logs: Mapping[str, Sequence[Mapping]], sft_log: Sequence[Mapping], path: Path) -> None:
    """Per GRPO arm: the mean reward of each function and in total over steps, and the share of groups
    whose completions all tied (no learning signal); the SFT loss when SFT ran."""
    panels = [(arm, log) for arm, log in arm_logs.items() if log] + ([("sft", sft_log)] if sft_log else [])
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.5 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (name, log) in zip(axes[0], panels, strict=False):
        if name == "sft":
            ax.plot(*zip(*[(row["step"], row["loss"]) for row in log if "loss" in row], strict=True))
            ax.set_xlabel("SFT step")
            ax.set_ylabel("loss")
            ax.set_title("SFT warm-up loss")
            continue
        keys = sorted({k for row in log for k in row if k.startswith("rewards/") and k.endswith("/mean")})
        for key in [*keys, "reward"]:
            points = [(row["step"], row[key]) for row in log if key in row]
            if points:
                label = (
                    "total (weighted)"
                    if key == "reward"
                    else key.removeprefix("rewards/").removesuffix("/mean")
                )
                ax.plot(*zip(*points, strict=True), label=label)
        tied = [(row["step"], row["frac_reward_zero_std"]) for row in log if "frac_reward_zero_std" in row]
        if tied:
            share = ax.twinx()
            share.plot(*zip(*tied, strict=True), color="grey", linestyle=":", label="groups tied")
            share.set_ylim(-0.05, 1.05)
            share.set_ylabel("share of groups tied", fontsize=8)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("mean reward")
        ax.set_title(f"GRPO rewards: {name}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
