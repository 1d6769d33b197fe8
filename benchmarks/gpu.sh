#!/usr/bin/env bash
# Quick training-throughput benchmark on an NVIDIA GPU machine with no internet.
#
# That machine has torch and jax (with CUDA) but no keras and no TensorFlow.
# Beforehand, on a machine with internet, from the project root, download
# the wheels it lacks:
#   pip download --only-binary=:all: --no-deps -d .whl keras namex optree
# Then carry `.whl` to the GPU machine and, from the project root, run:
#   benchmarks/gpu.sh [.whl] [output folder]
# It installs the wheels into a temporary folder (nothing else is touched),
# then runs `train_throughput.py --quick` for keras-dcgan under
# KERAS_BACKEND=jax and torch against the plain-PyTorch reference (which uses
# the GPU when PyTorch sees one), without the TensorFlow-only contenders and
# the tf.data pipeline run. The table goes to stdout, the raw results to
# <output folder>/gpu_throughput.json.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-.whl}
out=${2:-${OUT:-.}}
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target "$site" "$wheels"/*.whl
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 - <<'EOF'
import jax, torch
print("jax", jax.__version__, jax.devices())
print("torch", torch.__version__, "cuda", torch.cuda.is_available())
EOF
# Keep JAX from reserving most of the GPU while PyTorch workers run later.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
python3 benchmarks/train_throughput.py --quick \
  --contenders jax-jit,jax-jit-bf16,torch-eager,torch-eager-bf16,pt-nchw,pt-cl,pt-compile,pt-bf16-cl \
  --pipeline none --json "$out/gpu_throughput.json"
