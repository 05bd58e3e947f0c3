#!/usr/bin/env bash
# Configures and builds stepwise in build/ (Release, Ninja). The CUDA backend is built for sm_90 when nvcc is
# found (/usr/local/cuda); pass -DSTEPWISE_CUDA=OFF (or any other CMake flag) as arguments to change that.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
