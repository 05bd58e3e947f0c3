#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs every test (unit, multi-rank,
# integration) with ctest; then the sanitizer build runs them all again under ASan + UBSan + LeakSanitizer
# (scripts/sanitize.sh) and every fuzz target runs for STEPWISE_FUZZ_SECONDS (default 30) seconds
# (scripts/fuzz.sh); docs/testing.md. Extra arguments go to both ctest runs (e.g. -R tokenizer).
# STEPWISE_SKIP_SANITIZERS=1 skips the sanitizer build and the fuzzers on a developer's machine; CI (CI=true)
# always runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
if [[ "${STEPWISE_SKIP_SANITIZERS:-0}" == 1 && "${CI:-}" != true ]]; then
  echo "test: sanitizer build and fuzzers skipped (STEPWISE_SKIP_SANITIZERS=1)"
  exit 0
fi
./scripts/sanitize.sh "$@"
./scripts/fuzz.sh "${STEPWISE_FUZZ_SECONDS:-30}"
