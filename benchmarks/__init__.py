"""Speed benchmarks; each prints a table. Results are recorded in docs/benchmarks.md."""
