"""A curriculum for GRPO: train on the easiest level of problems until the model masters it, then the next.

GRPO learns only from groups whose completions score differently: on problems the model always solves
or never solves, every group ties and the step teaches nothing. A curriculum keeps the problems where
the model is, by moving to the next level (the built-in problems' `level` column) once the rolling mean
of one reward over the last `window` steps reaches `threshold`. The state is plain data here; the
sampler hands TRL the prompts of the current level, and `rlvr.trainers` feeds the logged rewards back.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

from rlvr.errors import RlvrError


class Curriculum:
    """Which level the training is at: the next one once the reward's mean over the last `window`
    steps at this level reaches `threshold`.

    >>> c = Curriculum([1, 2, 3], threshold=1.0, window=2)
    >>> [c.observe(reward) for reward in (0.0, 1.0, 2.0, 0.5, 2.0, 2.0, 2.0)]
    [1, 1, 2, 2, 3, 3, 3]
    """

    def __init__(self, levels: Sequence[int], threshold: float, window: int):
        self.levels = sorted(set(levels))
        self.threshold = threshold
        self._at = 0
        self._recent: deque[float] = deque(maxlen=window)

    @property
    def level(self) -> int:
        return self.levels[self._at]

    def observe(self, reward_mean: float) -> int:
        """Take one step's mean reward; the level for the steps after it."""
        self._recent.append(reward_mean)
        full = len(self._recent) == self._recent.maxlen
        if (
            full
            and sum(self._recent) / len(self._recent) >= self.threshold
            and self._at + 1 < len(self.levels)
        ):
            self._at += 1
            self._recent.clear()
        return self.level


class LevelSampler(Sampler[int]):
    """TRL's GRPO sampling order (`trl.trainer.utils.RepeatSampler`: each prompt `group` times in a row,
    each round of `prompts` prompts `repeat` times over), with every round's prompts drawn, without
    replacement, from the curriculum's level at the time the round is drawn.

    >>> c = Curriculum([1, 2], threshold=1.0, window=1)
    >>> sampler = LevelSampler([1, 1, 2, 2], c, prompts=2, group=2, repeat=1, seed=0)
    >>> first = list(sampler)[:4]
    >>> sorted(set(first)), c.observe(1.0), sorted(set(list(sampler)[:4]))
    ([0, 1], 2, [2, 3])
    """

    def __init__(
        self, levels: Sequence[int], curriculum: Curriculum, prompts: int, group: int, repeat: int, seed: int
    ):
        self.pools = {level: [i for i, at in enumerate(levels) if at == level] for level in curriculum.levels}
        if short := {level: len(pool) for level, pool in self.pools.items() if len(pool) < prompts}:
            raise RlvrError(
                f"train.curriculum: too few training problems at level(s) {short} for the {prompts} prompts "
                "of a round; generate more (data.builtin.count) or drop the level from data.builtin.levels"
            )
        self.curriculum = curriculum
        self.prompts, self.group, self.repeat = prompts, group, repeat
        self.rounds = len(levels) // prompts
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return self.rounds * self.prompts * self.group * self.repeat

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.rounds):
            chosen = self.rng.sample(self.pools[self.curriculum.level], self.prompts)
            for _ in range(self.repeat):
                for index in chosen:
                    yield from [index] * self.group
