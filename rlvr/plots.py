"""The evaluation stage's PNG plots: before/after bars and training curves (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_comparison(metrics: dict[str, dict[str, float]], path: Path) -> None:
    """Grouped bars of held-out accuracy and format compliance, one group per model."""
    names = list(metrics)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.38
    for offset, key in ((-width / 2, "accuracy"), (width / 2, "format")):
        values = [100 * metrics[name][key] for name in names]
        bars = ax.bar([i + offset for i in range(len(names))], values, width, label=key)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 110)
    ax.set_ylabel("% of held-out problems")
    ax.set_title("Before and after training")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training(grpo_log: list[dict], sft_log: list[dict], path: Path) -> None:
    """GRPO reward per function and in total over steps; the SFT loss beside it when SFT ran."""
    fig, axes = plt.subplots(1, 2 if sft_log else 1, figsize=(11 if sft_log else 6, 3.5), squeeze=False)
    ax = axes[0][0]
    keys = sorted({k for row in grpo_log for k in row if k.startswith("rewards/") and k.endswith("/mean")})
    for key in [*keys, "reward"]:
        points = [(row["step"], row[key]) for row in grpo_log if key in row]
        if points:
            name = key.removeprefix("rewards/").removesuffix("/mean")
            ax.plot(*zip(*points, strict=True), label="total (weighted)" if key == "reward" else name)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward")
    ax.set_title("GRPO rewards")
    ax.legend(fontsize=7)
    if sft_log:
        ax = axes[0][1]
        points = [(row["step"], row["loss"]) for row in sft_log if "loss" in row]
        ax.plot(*zip(*points, strict=True))
        ax.set_xlabel("SFT step")
        ax.set_ylabel("loss")
        ax.set_title("SFT warm-up loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
