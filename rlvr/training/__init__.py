"""Models and the machine: the `auto` choices (`hardware`), base models and adapters (`models`), checked
weights (`weights`), decoding and GRPO's sampler (`decoding`), TRL's trainers (`trainers`), resumable runs
(`checkpoints`).

May import: rlvr.verify, rlvr.data, rlvr.config and the bottom layer.
"""
