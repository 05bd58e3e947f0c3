#!/usr/bin/env bash
# Runs every libFuzzer target of the sanitizer build (build-asan/fuzz, made by scripts/sanitize.sh) for a bounded
# time from its seed corpus (tests/fuzz/corpus/<target>), as many at once as there are cores (one OpenMP thread
# each). New inputs go to build-asan/fuzz-corpus/<target> (the repository's corpus is only read); a finding is
# saved under build-asan/fuzz-findings/<target>/ and fails the run, printing the command that reproduces it.
# docs/testing.md.
#   scripts/fuzz.sh [SECONDS per target, default 30] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
for target in "${targets[@]}"; do
  if [[ ! -x "build-asan/fuzz/$target" ]]; then
    echo "fuzz: build-asan/fuzz/$target is missing (build it with scripts/sanitize.sh)" >&2
    exit 1
  fi
done

logs=build-asan/fuzz-logs
mkdir -p "$logs"
# One target: its log and exit status in $logs/<target>.{log,status}.
run_target() {
  local target="$1" seconds="$2" logs="$3"
  mkdir -p "build-asan/fuzz-corpus/$target" "build-asan/fuzz-findings/$target"
  set +e
  OMP_NUM_THREADS=1 "build-asan/fuzz/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="build-asan/fuzz-findings/$target/" \
    "build-asan/fuzz-corpus/$target" "tests/fuzz/corpus/$target" >"$logs/$target.log" 2>&1
  echo $? >"$logs/$target.status"
}
export -f run_target
start=$SECONDS
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_target "$@"' _ {} "$seconds" "$logs"

failed=0
for target in "${targets[@]}"; do
  runs=$(grep -o 'number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$' || echo "?")
  if [[ "$(cat "$logs/$target.status")" == 0 ]]; then
    echo "fuzz: $target: $runs runs, clean"
    continue
  fi
  failed=1
  echo "fuzz: FINDING in $target (log: $logs/$target.log):" >&2
  grep -E 'ERROR|runtime error|fuzz finding|uncaught|Test unit written|SUMMARY' "$logs/$target.log" | head -20 >&2
  echo "  reproduce: build-asan/fuzz/$target build-asan/fuzz-findings/$target/<file>" >&2
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $((SECONDS - start)) s in all"
exit "$failed"
