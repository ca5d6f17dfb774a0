"""Dynamic sampling (DAPO): a GRPO step filled with groups whose rewards differ.

GRPO learns from the differences between the completions of one prompt (a group): a group whose
completions all score alike has advantage zero everywhere and teaches nothing, yet costs its generation
and its forward and backward passes. After SFT most groups on the embedded default tie (25-100% per
step). With `train.dynamic_sampling`, each generation round samples up to `train.max_sampling_rounds`
batches of prompts, keeps the groups that do not tie, and trains on as many of them as the round needs;
when the rounds run out first, tied groups of the first batch fill the rest (they add nothing to the
gradient). TRL has no such option (its issue #3708 is open).

The hook is TRL's `_generate_and_score_completions`, which every generation engine goes through and
which one round of `steps_per_generation` calls once; the extra prompts are drawn from the training set
with the run's seed. Logged per round: `dynamic_sampling/rounds`, `.../generated_groups`,
`.../dropped_groups` (generated, not trained on), `.../trained_groups_with_signal` and
`.../trained_tied_groups` (the filler).
"""

from __future__ import annotations

from collections.abc import Sequence

# The per-completion tensors of a scored round: left-padded prompts, right-padded completions.
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


class DynamicSampling:
    """Mixed into TRL's GRPOTrainer (before it): `_generate_and_score_completions` samples more batches of
    prompts while too few groups carry signal (see the module docstring)."""

    max_sampling_rounds: int = 1

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        size = self.num_generations
        groups = len(inputs) // size
        rounds = [super()._generate_and_score_completions(inputs)]
        tied = [tied_groups(rounds[0]["advantages"], size).tolist()]
        signal = [(0, g) for g, t in enumerate(tied[0]) if not t]
        while len(signal) < groups and len(rounds) < self.max_sampling_rounds:
            rounds.append(super()._generate_and_score_completions(self._more_prompts(groups)))
            tied.append(tied_groups(rounds[-1]["advantages"], size).tolist())
            signal += [(len(rounds) - 1, g) for g, t in enumerate(tied[-1]) if not t]
        picks = signal[:groups]
        filler = [(0, g) for g, t in enumerate(tied[0]) if t][: groups - len(picks)]
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/rounds"].append(float(len(rounds)))
        metrics["dynamic_sampling/generated_groups"].append(float(groups * len(rounds)))
        metrics["dynamic_sampling/dropped_groups"].append(float(groups * (len(rounds) - 1)))
        metrics["dynamic_sampling/trained_groups_with_signal"].append(float(len(picks)))
        metrics["dynamic_sampling/trained_tied_groups"].append(float(len(filler)))
        return take_groups(rounds, picks + filler, size, self._tokenizer.pad_token_id)

    def _more_prompts(self, groups: int) -> list[dict]:
        """`groups` prompts of the training set, each repeated for its group, drawn with the run's seed."""
        import torch

        if not hasattr(self, "_prompt_draws"):
            self._prompt_draws = torch.Generator().manual_seed(self.args.seed + 1)
        rows = torch.randint(len(self.train_dataset), (groups,), generator=self._prompt_draws).tolist()
        return [self.train_dataset[i] for i in rows for _ in range(self.num_generations)]


class PackedGroups:
    """Each GRPO group's prompt once, its completions after it (`pack_groups`), and the way back."""

    def __init__(self, ids, mask, positions, labels, places, width):
        self.ids, self.mask, self.positions, self.labels = ids, mask, positions, labels
        self.places = places  # per original row: (packed row, first position of its completion's scores)
        self.width = width  # the completion length the caller's rows have

    def unpack(self, per_position):
        """Per-position values of the packed rows (log-probabilities, entropies; index k scores the token at
        k + 1) as the caller's rows of completion length `width`, in the caller's order."""
        import torch

        return torch.stack([per_position[row, start : start + self.width] for row, start in self.places])


def pack_groups(input_ids, attention_mask, completion_length: int, pad_id: int, dtype) -> PackedGroups:
    """The rows (a left-padded prompt, then a right-padded completion of `completion_length`) packed so
    that a prompt shared by several rows is computed once: one packed row per distinct prompt holds the
    prompt but its last token, then for each completion a slot with a copy of that last token and the
    completion. A 4D mask lets each slot see the prompt and itself only, and position ids restart after
    the prompt in every slot, so each completion's log-probabilities are those of its own unpacked row
    (the "Prefix Grouper" idea); the prompt's forward and backward are paid once per group, not per
    completion. A query never sees no key (padding sees itself), so no softmax row is empty."""
    import torch

    rows, prompt_width = input_ids.shape[0], input_ids.shape[1] - completion_length
    groups: dict[tuple[int, ...], list[int]] = {}
    prompts = []
    for row in range(rows):
        valid = input_ids[row, :prompt_width][attention_mask[row, :prompt_width].bool()]
        key = tuple(valid.tolist())
        if key not in groups:
            groups[key] = []
            prompts.append(valid)
        groups[key].append(row)
    sequences, allowed, positions, labels, places = [], [], [], [], [0] * rows
    for packed_row, (prompt, members) in enumerate(zip(prompts, groups.values(), strict=True)):
        head = len(prompt) - 1
        tokens = [prompt[:-1]]
        target = [torch.full((head,), -100)]
        where = [torch.arange(head)]
        total = head + len(members) * (completion_length + 1)
        allow = torch.zeros(total, total, dtype=torch.bool)
        allow[:head, :head] = torch.ones(head, head, dtype=torch.bool).tril()
        for slot, row in enumerate(members):
            start = head + slot * (completion_length + 1)
            completion = input_ids[row, prompt_width:]
            kept = attention_mask[row, prompt_width:].bool()
            tokens.append(torch.cat([prompt[-1:], torch.where(kept, completion, pad_id)]))
            target.append(torch.cat([torch.tensor([-100]), torch.where(kept, completion, -100)]))
            where.append(torch.arange(head, head + completion_length + 1))
            allow[start : start + completion_length + 1, :head] = True
            allow[start : start + completion_length + 1, start : start + completion_length + 1] = torch.ones(
                completion_length + 1, completion_length + 1, dtype=torch.bool
            ).tril()
            places[row] = (packed_row, start)
        sequences.append(torch.cat(tokens))
        labels.append(torch.cat(target))
        positions.append(torch.cat(where))
        allowed.append(allow)
    longest = max(len(s) for s in sequences)
    device = input_ids.device
    ids = torch.full((len(sequences), longest), pad_id, dtype=input_ids.dtype)
    label = torch.full((len(sequences), longest), -100, dtype=input_ids.dtype)
    position = torch.zeros((len(sequences), longest), dtype=torch.long)
    mask = torch.zeros((len(sequences), 1, longest, longest), dtype=torch.bool)
    for i, (seq, lab, pos, allow) in enumerate(zip(sequences, labels, positions, allowed, strict=True)):
        ids[i, : len(seq)], label[i, : len(seq)], position[i, : len(seq)] = seq, lab, pos
        mask[i, 0, : len(seq), : len(seq)] = allow
        mask[i, 0, len(seq) :, len(seq) :] = torch.eye(longest - len(seq), dtype=torch.bool)
    additive = torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
    return PackedGroups(
        ids.to(device), additive.to(device), position.to(device), label.to(device), places, completion_length
    )


class SharedPrefix:
    """Mixed into TRL's GRPOTrainer (before it): the forward passes that score completions (the loss, the
    old and reference log-probabilities) compute each group's prompt once (`pack_groups`). Text prompts
    only; anything else goes through TRL's own computation."""

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **multimodal,
    ):  # fmt: skip
        if compute_aux_loss or any(value is not None for value in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                compute_aux_loss, **multimodal,
            )  # fmt: skip
        dtype = next(model.parameters()).dtype
        packed = pack_groups(input_ids, attention_mask, logits_to_keep, self._tokenizer.pad_token_id, dtype)
        with self.accelerator.autocast():
            outputs = model(
                input_ids=packed.ids,
                attention_mask=packed.mask,
                position_ids=packed.positions,
                labels=packed.labels,
                fused_lm_head=True,
            )
        logps = packed.unpack(outputs.log_probs)
        return logps, packed.unpack(outputs.entropy) if compute_entropy else None, None


class SharedPrefill:
    """Mixed into TRL's GRPOTrainer (before it) for the plain `generate` engine: a group's prompt prefilled
    once when its completions are sampled (`rlvr.training.decoding.shared_prefill_sample`). Text prompts
    only; anything else goes through TRL's own sampling."""

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kwargs):
        import torch
        from trl.models import unwrap_model_for_generation

        from rlvr.training.decoding import shared_prefill_sample

        if images or multimodal_fields or self.use_vllm or self.use_transformers_continuous_batching:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, **kwargs
            )
        with (
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped,
            torch.no_grad(),
        ):
            completions = shared_prefill_sample(
                unwrapped,
                prompt_ids,
                self.generation_config,
                self.eos_token_ids,
                self._tokenizer.pad_token_id,
            )
        return completions, None
