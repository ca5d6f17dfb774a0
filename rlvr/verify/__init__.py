"""Judging a completion: reading it, the rewards, math-verify's equivalence under a time limit."""
