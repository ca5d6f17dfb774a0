"""rlvr: reinforcement learning from verifiable rewards (GRPO) for math, as a reproducible pipeline."""

__version__ = "0.1.0"
