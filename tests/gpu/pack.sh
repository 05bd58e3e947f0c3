#!/usr/bin/env bash
# Build-side half of the GPU checks (run on a build machine with nvcc, from anywhere in the repository): builds
# `stepwise`, `gpu_tests`, `nccl_gpu_test` and `train_tests` (its DP/TP equivalence tests run on the GPU too) for
# sm_90, packs them with every non-system library they load and an Open MPI tree (../shared/tools/device-pack), adds
# what the run side needs, since ../shared does not travel (the fixtures, hf_baseline.py, rank_env.sh), and leaves
# gpu-dist/ = run_gpu_checks.sh + payload.tar.gz: unpacked the tree is over the 64 MiB a device call carries
# (OpenBLAS alone is 35 MB), compressed it is about half. Then, on the GPU host, from the repository root, in two
# device calls: CALL=1 gpu-dist/run_gpu_checks.sh, then CALL=2 gpu-dist/run_gpu_checks.sh (it unpacks the payload
# first; see its header for what each call runs).
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
cmake --build "$build" -j "${JOBS:-2}" --target stepwise gpu_tests nccl_gpu_test train_tests
echo "pack.sh: build took $(( $(date +%s) - start )) s"

# device-pack decides whether to add the Open MPI tree with `ldd ... | grep -q libmpi.so` under pipefail: grep -q
# exits at the first match, ldd dies of SIGPIPE and the test fails, so the tree was silently left out. A copy with
# a grep that reads all its input packs it; the check below fails loudly if it is still missing.
tree=$build/gpu-dist
rm -rf "$tree" gpu-dist
sed 's/grep -q libmpi\.so/grep libmpi.so >\/dev\/null/' "$shared/tools/device-pack" >"$build/device-pack"
bash "$build/device-pack" "$tree" "$build/bin/stepwise" "$build/tests/gpu_tests" "$build/tests/nccl_gpu_test" \
  "$build/tests/train_tests"
[[ -x $tree/ompi/bin/mpirun ]] || { echo "pack.sh: device-pack left out the Open MPI tree" >&2; exit 1; }
cp -r tests/data/fixtures "$tree/fixtures"
cp "$shared/bench/hf_baseline.py" tests/gpu/rank_env.sh "$tree/"
git rev-parse HEAD >"$tree/COMMIT" 2>/dev/null || true
mkdir gpu-dist
tar -C "$tree" -czf gpu-dist/payload.tar.gz .
cp tests/gpu/run_gpu_checks.sh gpu-dist/
echo "pack.sh: gpu-dist ready ($(du -sh gpu-dist | cut -f1), $(du -sh "$tree" | cut -f1) unpacked); carry gpu-dist" \
  "and on the GPU host run CALL=1 gpu-dist/run_gpu_checks.sh, then CALL=2 gpu-dist/run_gpu_checks.sh"
