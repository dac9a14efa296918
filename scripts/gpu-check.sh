#!/usr/bin/env bash
# Checks the trainer's CUDA path on a machine with an NVIDIA GPU and a CUDA build of PyTorch:
#   bash scripts/gpu-check.sh [LOG_DIR]
# 1. trainer/tests/test_cuda.py (skipped on CPU-only machines such as CI) must pass, none skipped;
# 2. the whole trainer suite on that PyTorch (often newer than Debian's);
# 3. bench/trainer_device.py: trainer vs hand-written script, CUDA vs CPU (figures only).
# PYTHON defaults to the python3 on PATH (GPU images keep their PyTorch there, not in /usr/bin).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
log_dir=${1:-${OUT:-/tmp/trainyard-gpu-check}}
mkdir -p "$log_dir"
export TRAINYARD_PYTHON=${PYTHON:-$(command -v python3)} PYTHONUNBUFFERED=1
py=$TRAINYARD_PYTHON

nvidia-smi -L || true
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'

status=0
(cd trainer && timeout 300 "$py" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py) 2>&1 | tee "$log_dir/pytest-cuda.log" || status=1
if grep -q "sees no CUDA device" "$log_dir/pytest-cuda.log"; then echo "gpu-check: CUDA tests were skipped: no GPU seen" >&2; status=1; fi
(cd trainer && timeout 300 "$py" -m pytest -q -rs -p no:cacheprovider --ignore=tests/test_cuda.py tests) 2>&1 | tee "$log_dir/pytest-all.log" || status=1
# shellcheck disable=SC2086  # BENCH_ARGS: options for bench/trainer_device.py, word-split on purpose
timeout 300 "$py" bench/trainer_device.py ${BENCH_ARGS:-} 2>&1 | tee "$log_dir/bench.log" || status=1
echo "gpu-check: exit $status"
exit $status
