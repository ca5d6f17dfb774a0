"""Scoring held-out completions, the statistics behind every comparison, conclusions, reports, plots."""
