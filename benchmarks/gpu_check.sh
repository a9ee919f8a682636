#!/usr/bin/env bash
# GC's cost and a step's profile on a GPU, with the JAX and PyTorch backends, in one script
# (about 4 min on an H200). It writes into $OUT (default /tmp/gpu_check):
#   - gc_overhead_{torch,jax}.json: GC overhead at 300x300 and 64x64, 40 alternating repeats of
#     5-step blocks with the 95% interval of the ratio; for PyTorch also GC's added host time,
#     torch ops and kernels per step, and its ops timed against a foreach variant (--host-cost);
#   - device_profile_{torch,jax}.json and their raw traces (gzipped): how busy the GPU is in a
#     step of the package default at 300x300, kernels per step, time by kind of kernel. A trace
#     can be summarised again on any machine: python benchmarks/device_profile.py --summarise ...
#
# The GPU machine needs PyTorch and JAX; Keras is installed from .gpu_wheels/ when missing. Fill
# that folder beforehand, on a machine with network access:
#   python -m pip download --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 --no-deps keras==3.15.1 namex optree -d .gpu_wheels
# then run `bash benchmarks/gpu_check.sh` from the repository root with .gpu_wheels/ beside it.
# GPU_CHECK_QUICK=1 runs the same steps at tiny sizes (a CPU can check the script).
# A step that fails (a crash, a timeout) is recorded and the next one still runs, so one call
# brings back whatever could be measured. The failed steps are listed at the end, and the script
# then exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=3 XLA_PYTHON_CLIENT_PREALLOCATE=false
# A GPU machine may have no TensorFlow, Keras's default backend: importing Keras needs another.
export KERAS_BACKEND=torch
failed=()
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

step() { # step NAME COMMAND...: run COMMAND; if it fails, record NAME and go on
  local name=$1
  shift
  echo "== $name (${SECONDS}s)"
  "$@" || {
    echo "!! $name failed (exit $?)" >&2
    failed+=("$name")
  }
}

if ! python3 -c "import keras, namex, optree" 2>/dev/null; then
  if ! python3 -m pip install --quiet --no-index --no-deps .gpu_wheels/*.whl; then
    echo "Keras is missing and .gpu_wheels/ does not install it: no step can run" >&2
    exit 1
  fi
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt"
  device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
else
  device="no GPU (a check of this script)"
fi
python3 -c "import sys, keras, torch, jax; print(sys.version.split()[0], 'keras', keras.__version__,
'torch', torch.__version__, 'jax', jax.__version__)" | tee -a "$out/gpu.txt" || failed+=(versions)

if [ "${GPU_CHECK_QUICK:-0}" = 1 ]; then
  overhead=(--sizes 16 --batch-size 2 --repeats 6 --steps-per-repeat 1)
  profile=(--image-size 32 --batch-size 4 --steps 2)
else
  overhead=(--sizes 300 64 --batch-size 128 --repeats 40 --steps-per-repeat 5)
  profile=(--image-size 300 --batch-size 128 --steps 5)
fi

step "GC overhead, PyTorch backend" env KERAS_BACKEND=torch timeout 200 \
  python3 benchmarks/gc_overhead.py "${overhead[@]}" --host-cost --device "$device" \
  --output "$out/gc_overhead_torch.json"
step "GC overhead, JAX backend" env KERAS_BACKEND=jax timeout 200 \
  python3 benchmarks/gc_overhead.py "${overhead[@]}" --device "$device" \
  --output "$out/gc_overhead_jax.json"

for backend in torch jax; do
  trace="$scratch/$backend"
  step "device profile, $backend backend" env KERAS_BACKEND=$backend timeout 120 \
    python3 benchmarks/device_profile.py "${profile[@]}" --trace-dir "$trace" \
    --device "$device" --output "$out/device_profile_$backend.json"
  # Flat and compressed: one gzipped file per trace, beside the JSON files in $OUT.
  [ -d "$trace" ] && find "$trace" -type f \( -name '*.xplane.pb' -o -name '*.json' \) -print0 |
    while IFS= read -r -d '' file; do gzip -c "$file" >"$out/${backend}_$(basename "$file").gz"; done
done
echo "== done (${SECONDS}s): $(ls "$out" | tr '\n' ' ')"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed steps:\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
