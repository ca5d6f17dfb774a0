#!/usr/bin/env bash
# The project's GPU checks in one run, as done on a lent GPU machine that has torch, transformers, peft and
# accelerate but no network: installs the wheels staged in /root/stage (trl, datasets, unsloth, math-verify,
# pydantic, ...; see ../shared/gpu/README.md), converts the embedded GGUF model with rlvr's own code, runs
# the `gpu` tests (in parallel when pytest-xdist is staged too), then benchmarks.grpo_gpu. Everything it
# prints also lands in $OUT (default gpu-results/).
#   bash benchmarks/gpu_check.sh            (from the project root)
#   TEST_TIMEOUT=200 BENCH_BUDGET=270 bash benchmarks/gpu_check.sh   (seconds for each part)
set -uo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1 \
  DO_NOT_TRACK=1 UNSLOTH_DISABLE_STATISTICS=1
started=$(date +%s)
step() { echo "== $(( $(date +%s) - started )) s: $*" | tee -a "$out/steps.log"; }

step "install"
cat /root/stage/smol.gguf.part.* > /root/stage/smol.gguf
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  /root/stage/*.whl > "$out/install.log" 2>&1 || { tail -20 "$out/install.log"; exit 1; }
{ nvidia-smi; python3 -c "from importlib.metadata import version
for name in ('torch', 'transformers', 'peft', 'accelerate', 'trl', 'datasets', 'unsloth', 'unsloth_zoo'):
    print(name, version(name))"; } > "$out/env.txt" 2>&1

step "check the staged packages"
# What the GPU tests and the benchmark import beyond that machine's own packages: a missing one stops the
# run here, in one line, before any GPU time goes to tests that would fail on it.
python3 -c "from importlib.metadata import PackageNotFoundError, version
need = ('trl', 'datasets', 'unsloth', 'unsloth_zoo', 'bitsandbytes', 'math-verify', 'evaluate', 'pydantic',
        'reasoning-gym', 'zc.lockfile', 'gguf')
missing = []
for name in need:
    try:
        version(name)
    except PackageNotFoundError:
        missing.append(name)
if missing:
    raise SystemExit(f'not installed here: {missing}; add them to the staged wheels (../shared/gpu/stage.sh)')" \
  || exit 1

step "convert the embedded model"
python3 -c "from pathlib import Path; from rlvr.training.models import convert_gguf
convert_gguf(Path('/root/stage/smol.gguf'), Path('/root/smol-hf'), 'bfloat16')" >> "$out/steps.log" 2>&1

step "tests/test_gpu.py"
workers=$(python3 -c "import xdist" 2>/dev/null && echo "-n ${TEST_WORKERS:-4}")
timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -m gpu tests/test_gpu.py -v -p no:cacheprovider -rA $workers \
  --durations=20 ${TEST_K:+-k "$TEST_K"} > "$out/test_gpu.log" 2>&1
echo "pytest exit: $?" >> "$out/test_gpu.log"
grep -E "PASSED|FAILED|ERROR|SKIPPED|passed|failed|exit:" "$out/test_gpu.log" | tail -15

step "benchmarks.grpo_gpu"
timeout "${BENCH_TIMEOUT:-400}" python3 -m benchmarks.grpo_gpu --model /root/smol-hf --out "$out/grpo_gpu.json" \
  --budget-s "${BENCH_BUDGET:-330}" > "$out/grpo_gpu.log" 2>&1
echo "benchmark exit: $?" >> "$out/grpo_gpu.log"
grep -v "^RESULT" "$out/grpo_gpu.log" | tail -25
step "done"
