#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs every test (unit, multi-rank,
# integration) with ctest. Extra arguments go to ctest (e.g. -R tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
