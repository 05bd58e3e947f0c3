#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the embedded demo (`stepwise demo`):
# two small Qwen3-architecture models trained from scratch on arithmetic word problems, one on step-by-step traces
# and one on answers only, with the same budget, then compared on held-out problems. Extra arguments go to
# `stepwise demo` (e.g. --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
build/bin/stepwise demo "$@"
