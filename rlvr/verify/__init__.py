"""Judging a completion: reading its text and numbers (`parsing`), the rewards by name (`rewards`),
math-verify's symbolic equivalence (`equivalence`) under a time limit that holds (`deadline`).

May import: rlvr.data, rlvr.config and the bottom layer.
"""
