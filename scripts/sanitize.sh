#!/usr/bin/env bash
# The sanitizer build: the CPU code built with clang, AddressSanitizer + UndefinedBehaviorSanitizer (undefined
# behaviour fatal) in build-asan/, and every unit, multi-rank and integration test run under it with
# LeakSanitizer on (options: tests/sanitizers/default_options.cpp). The same build holds the libFuzzer targets
# (tests/fuzz); ctest replays their corpora, scripts/fuzz.sh explores. Extra arguments go to ctest (e.g. -R io_tests).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTEPWISE_CUDA=OFF \
  -DSTEPWISE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$(nproc)"
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" "$@"
