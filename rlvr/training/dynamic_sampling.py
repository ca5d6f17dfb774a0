"""Dynamic sampling (DAPO): a GRPO step filled with groups whose rewards differ.

GRPO learns from the differences between the completions of one prompt (a group): a group whose
completions all score alike has advantage zero everywhere and teaches nothing, yet costs its generation
and its forward and backward passes. After SFT many groups on the embedded default tie
(docs/benchmarks.md). With `train.dynamic_sampling`, each generation round samples up to
`train.max_sampling_rounds` batches of prompts, keeps the groups that do not tie, and trains on as many
of them as the round needs; when the rounds run out first, tied groups of the first batch fill the rest
(they add nothing to the gradient). TRL has no such option (its issue #3708 is open).

This module holds the batch arithmetic; the loop is `RlvrGRPOTrainer._generate_and_score_completions`
(`rlvr.training.grpo_trainer`), which every generation engine goes through once per generation round; the
extra prompts are drawn from the training set with the run's seed. Logged per round:
`dynamic_sampling/rounds`, `.../generated_groups`, `.../dropped_groups` (generated, not trained on),
`.../trained_groups_with_signal` and `.../trained_tied_groups` (the filler).
"""

from __future__ import annotations

from collections.abc import Sequence

# The per-completion tensors of a round TRL scored (its batch keys in trl>=1.15,<1.17): left-padded
# prompts, right-padded completions.
LEFT_PADDED = ("prompt_ids", "prompt_mask")
RIGHT_PADDED = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "importance_sampling_ratio",
    "tool_mask",
)


def tied_groups(advantages, num_generations: int):
    """A bool per group: True where every completion's advantage is zero (the rewards tied).

    >>> import torch
    >>> tied_groups(torch.tensor([0.0, 0.0, 1.0, -1.0, 0.0, 0.0]), 2).tolist()
    [True, False, True]
    """
    return (advantages.view(-1, num_generations).abs() < 1e-6).all(dim=1)


def take_groups(rounds: Sequence[dict], picks: Sequence[tuple[int, int]], num_generations: int, pad_id: int):
    """One scored batch made of whole groups `picks` ((round, group) pairs) of several scored rounds:
    every per-completion tensor concatenated, padded to the widest round (prompts on the left, completions
    on the right, with `pad_id` for token ids and 0 elsewhere), and `num_items_in_batch` counted again.

    >>> import torch
    >>> ones = lambda rows, cols: torch.ones(rows, cols, dtype=torch.long)
    >>> a = {"prompt_ids": torch.tensor([[7, 8]] * 2), "prompt_mask": ones(2, 2),
    ...      "completion_ids": torch.tensor([[1], [2]]), "completion_mask": ones(2, 1),
    ...      "advantages": torch.tensor([1.0, -1.0]), "num_items_in_batch": torch.tensor(2)}
    >>> b = {"prompt_ids": torch.tensor([[9]] * 2), "prompt_mask": ones(2, 1),
    ...      "completion_ids": torch.tensor([[3, 4], [5, 0]]),
    ...      "completion_mask": torch.tensor([[1, 1], [1, 0]]),
    ...      "advantages": torch.tensor([0.5, -0.5]), "num_items_in_batch": torch.tensor(3)}
    >>> batch = take_groups([a, b], [(1, 0), (0, 0)], num_generations=2, pad_id=0)
    >>> batch["prompt_ids"].tolist(), batch["completion_ids"].tolist(), int(batch["num_items_in_batch"])
    ([[0, 9], [0, 9], [7, 8], [7, 8]], [[3, 4], [5, 0], [1, 0], [2, 0]], 5)
    """
    import torch
    import torch.nn.functional as F

    out = {}
    for key in rounds[0]:
        if key == "num_items_in_batch":
            continue
        if key not in (*LEFT_PADDED, *RIGHT_PADDED, "advantages"):
            raise ValueError(f"dynamic sampling cannot merge the scored batch's `{key}` (text prompts only)")
        parts = []
        for r, g in picks:
            rows = rounds[r][key][g * num_generations : (g + 1) * num_generations]
            parts.append(rows)
        if key == "advantages":
            out[key] = torch.cat(parts)
            continue
        width = max(part.shape[1] for part in parts)
        value = pad_id if key.endswith("_ids") else 0
        left = key in LEFT_PADDED
        padded = [
            F.pad(part, (width - part.shape[1], 0) if left else (0, width - part.shape[1]), value=value)
            for part in parts
        ]
        out[key] = torch.cat(padded)
    mask = out["completion_mask"] * out["tool_mask"] if "tool_mask" in out else out["completion_mask"]
    out["num_items_in_batch"] = mask.sum()
    return out
