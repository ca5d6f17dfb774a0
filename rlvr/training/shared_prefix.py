"""The shared prefix (`train.shared_prefix`): a GRPO group's prompt computed once in the forward passes
that score its completions (the loss, the old and reference log-probabilities).

A group's completions all follow one prompt, yet TRL's forward computes that prompt once per completion.
`pack_groups` lays each distinct prompt out once with its completions after it, under a 4D attention mask
and restarted position ids, so each completion's log-probabilities are those of its own unpacked row (the
"Prefix Grouper" idea). The mask is dense, `(rows, 1, L, L)` for a packed row of L tokens, and needs an
attention implementation that takes any 4D mask (eager, sdpa; not FlashAttention-2); the packed rows are
computed in one forward, outside TRL's micro-batch chunking. Hence `auto`: on for CPU training, where the
saving was measured (docs/benchmarks.md), off elsewhere. The same prompt in sampling is
`rlvr.training.decoding.shared_prefill_sample`.
"""

from __future__ import annotations


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
