#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the embedded demo: score a few
# sequences and generate from the bundled tiny Qwen3 checkpoint (tests/data/fixtures/qwen3-tiny-b).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
model=tests/data/fixtures/qwen3-tiny-b
tokens=$(mktemp)
trap 'rm -f "$tokens"' EXIT
printf '[1, 17, 42, 99, 7]\n[5, 6, 7, 8]\n' >"$tokens"
echo "== stepwise score --model $model"
build/bin/stepwise score --model "$model" --tokens "$tokens"
echo "== stepwise generate (greedy)"
build/bin/stepwise generate --model "$model" --prompt-ids 1,17,42 --max-new-tokens 16
echo "== stepwise generate (temperature 0.8, top-p 0.9, seed 7)"
build/bin/stepwise generate --model "$model" --prompt-ids 1,17,42 --max-new-tokens 16 --temperature 0.8 --top-p 0.9 --seed 7
