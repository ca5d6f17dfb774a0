"""Scoring held-out completions (`scoring`, and `verified_math`, the same as a Hugging Face `evaluate`
metric), the statistics behind every comparison (`stats`), what the numbers let one conclude
(`conclusions`), per-problem predictions (`predictions`), and rendering for people (`report`, `plots`).
Pure but for the plots' files.

May import: rlvr.training, rlvr.verify, rlvr.data, rlvr.config and the bottom layer.
"""
