#!/usr/bin/env bash
# Training throughput on a GPU machine: keras-dcgan on JAX and PyTorch against
# the plain-PyTorch reference on the same GPU, in one table, within 10 minutes.
#
#   benchmarks/gpu.sh [--wheels DIR] [--out DIR] [--dry-run]
#
# The machine needs PyTorch and JAX with CUDA (TensorFlow is not used). The
# script installs what else keras-dcgan needs into a temporary folder and
# touches nothing else: from PyPI, or, on a machine without internet, from
# wheels downloaded elsewhere with
#   pip download --only-binary=:all: --no-deps -d DIR keras namex optree
# (and those of absl-py, h5py, rich it lacks) and passed as --wheels DIR.
# The table goes to stdout, the raw results to DIR/gpu_throughput.json and a
# plot to DIR/gpu_throughput.png (--out DIR, default: the current folder).
# --dry-run runs the same steps at batch 8 with one timed step, on whatever
# device there is, without the peak-FLOP/s probe: a check of the script
# itself, on a CPU in a few minutes.
set -euo pipefail
usage="usage: benchmarks/gpu.sh [--wheels DIR] [--out DIR] [--dry-run]"
wheels="" out="." dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels=${2:?$usage}; shift 2 ;;
    --out) out=${2:?$usage}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python3}
out=$(mkdir -p "$out" && cd "$out" && pwd)
if [ -n "$wheels" ]; then wheels=$(cd "$wheels" && pwd); fi
cd "$(dirname "$0")/.."

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
if [ -n "$wheels" ]; then
  "$python" -m pip install -q --no-index --no-deps --no-cache-dir \
    --target "$site" "$wheels"/*.whl
else
  # Keras and those of its requirements the machine lacks, without touching
  # the NumPy that PyTorch and JAX were installed with.
  missing=$("$python" -c '
import importlib.util
needs = {"keras": "keras", "namex": "namex", "optree": "optree",
         "absl": "absl-py", "h5py": "h5py", "ml_dtypes": "ml-dtypes",
         "packaging": "packaging", "rich": "rich",
         "markdown_it": "markdown-it-py", "mdurl": "mdurl",
         "pygments": "pygments"}
print(" ".join(p for m, p in needs.items() if not importlib.util.find_spec(m)))
')
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    "$python" -m pip install -q --no-deps --no-cache-dir --target "$site" \
      $missing
  fi
fi
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Keep JAX from reserving most of the GPU while the PyTorch workers run.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
  2>/dev/null || echo "nvidia-smi: no NVIDIA GPU driver found"
"$python" - <<'EOF'
import jax, keras, torch
print(f"keras {keras.__version__}, jax {jax.__version__} {jax.devices()}, "
      f"torch {torch.__version__} (CUDA available: {torch.cuda.is_available()})")
EOF

contenders=jax-jit,jax-jit-bf16,torch-eager,torch-eager-bf16,pt-nchw,pt-cl,pt-bf16-cl
if [ "$dry" = 1 ]; then
  timing=(--batch-sizes 8 --rounds 1 --warmup 1 --steps 1 --generate 0
          --no-peak)
else
  timing=(--batch-sizes 256,1024 --rounds 2 --warmup 5 --steps 20
          --generate 2048)
fi
"$python" benchmarks/train_throughput.py --contenders "$contenders" \
  "${timing[@]}" --pipeline none --timeout 300 --json "$out/gpu_throughput.json" \
  --plot "$out/gpu_throughput.png"
