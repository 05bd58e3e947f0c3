#!/usr/bin/env bash
# Build-side half of the GPU checks (run on a build machine with nvcc, from anywhere in the repository): builds
# `stepwise`, `gpu_tests` and `nccl_gpu_test` for sm_90, packs them with every non-system library they load into gpu-dist/
# (../shared/tools/device-pack), and copies what the run side needs, since ../shared does not travel: the fixtures,
# hf_baseline.py and run_gpu_checks.sh. Then, on the GPU host, from the repository root: gpu-dist/run_gpu_checks.sh
#   usage: tests/gpu/pack.sh [BUILD_DIR]       (default build-gpu; env JOBS (2), SHARED_DIR (../shared))
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${1:-build-gpu}
shared=${SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
for f in "$shared/tools/device-pack" "$shared/bench/hf_baseline.py"; do
  [[ -f $f ]] || { echo "pack.sh: $f not found (set SHARED_DIR to the shared folder)" >&2; exit 2; }
done
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=/usr/local/cuda/bin:$PATH

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTEPWISE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
start=$(date +%s)
cmake --build "$build" -j "${JOBS:-2}" --target stepwise gpu_tests nccl_gpu_test
echo "pack.sh: build took $(( $(date +%s) - start )) s"

rm -rf gpu-dist
"$shared/tools/device-pack" gpu-dist "$build/bin/stepwise" "$build/tests/gpu_tests" "$build/tests/nccl_gpu_test"
cp -r tests/data/fixtures gpu-dist/fixtures
cp "$shared/bench/hf_baseline.py" tests/gpu/run_gpu_checks.sh gpu-dist/
git rev-parse HEAD > gpu-dist/COMMIT 2>/dev/null || true
echo "pack.sh: gpu-dist ready ($(du -sh gpu-dist | cut -f1)); on the GPU host run gpu-dist/run_gpu_checks.sh"
