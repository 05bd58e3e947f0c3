#!/usr/bin/env bash
# Run-side half of the GPU checks, on a GPU host (H100/H200, CUDA 13, PyTorch for the baseline), from the packed
# gpu-dist/ that tests/gpu/pack.sh made. In order, each with its own time limit so that one hang loses one step:
#   1. gpu_tests: every CUDA kernel against the CPU reference, and the model against the Hugging Face fixtures;
#      nccl_gpu_test: the NCCL communicator on one rank (bootstrapped from an id file, then over MPI);
#   2. hf_baseline.py: PyTorch on the same card (run before and apart from the packed libraries, see env.sh);
#   3. stepwise bench gpu-train, gpu-prefill, gpu-decode, each against that baseline, and bench serve (batch 64);
#   4. compute-sanitizer --tool memcheck over the kernel tests and one model test.
# Full logs go to $OUT (default ./gpu-out) and summary.md there is rewritten after every step, so a run cut short
# still leaves its table; the table is printed last.
#   usage: gpu-dist/run_gpu_checks.sh   or   tests/gpu/run_gpu_checks.sh [gpu-dist]
#   env:   STEPS="tests nccl baseline bench memcheck" (a subset), BASELINE_ONLY (hf_baseline.py --only list)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dist=${1:-gpu-dist}
# The packed copy: pack.sh ships the tree compressed (the carry limit); unpack it beside this script once.
if [[ -f $here/payload.tar.gz && ! -f $here/env.sh ]]; then
  tar -C "$here" -xzf "$here/payload.tar.gz" || { echo "run_gpu_checks: cannot unpack $here/payload.tar.gz" >&2; exit 2; }
fi
[[ -f $here/env.sh ]] && dist=$here
out=${OUT:-$PWD/gpu-out}
steps=${STEPS:-tests nccl baseline bench memcheck}
mkdir -p "$out"

if [[ ! -x $dist/bin/gpu_tests || ! -f $dist/env.sh ]]; then
  echo "run_gpu_checks: no packed binaries in '$dist' (build them with tests/gpu/pack.sh on a build machine)" >&2
  exit 2
fi
if ! nvidia-smi -L >"$out/gpu.txt" 2>&1 || ! grep -q GPU "$out/gpu.txt"; then
  echo "run_gpu_checks: no GPU visible here ($(head -c 300 "$out/gpu.txt")); run this on a GPU host" >&2
  exit 2
fi
nvidia-smi >>"$out/gpu.txt" 2>&1

results=$out/results.tsv  # step <TAB> status <TAB> seconds <TAB> log
: >"$results"

# Prefix for commands that need the packed libraries. env.sh is sourced once, in a child shell (it searches the
# disk for the CUDA libraries), and its variables are passed to those commands only, so that Python (the baseline)
# never loads the packed libraries; stdbuf keeps the output of a binary that crashes.
mapfile -t packed_env < <(bash -c 'source "$1" >/dev/null 2>&1 &&
  printf "%s\n" "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" "PATH=$PATH" "OPAL_PREFIX=$OPAL_PREFIX"' _ "$dist/env.sh")
packed=(env "${packed_env[@]}" PMIX_MCA_pcompress_base_silence_warning=1 stdbuf -o0 -e0)

# step NAME LIMIT_SECONDS LOG COMMAND...: runs it, records its exit status and time, refreshes the summary.
step() {
  local name=$1 limit=$2 log=$3; shift 3
  echo "== $name (limit ${limit}s) -> $log"
  local t0=$SECONDS status
  timeout --kill-after=10 "$limit" "$@" >"$out/$log" 2>&1
  status=$?
  [[ $status == 124 || $status == 137 ]] && echo "run_gpu_checks: $name timed out after ${limit}s" >>"$out/$log"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "$log" >>"$results"
  summarize >/dev/null
  tail -n 3 "$out/$log"
}

summarize() {
  python3 - "$out" <<'PY' >"$out/summary.md"
import json, os, sys
out = sys.argv[1]
def last_json(log):
    try:
        lines = [l for l in open(os.path.join(out, log)) if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except Exception:
        return None
gpu = open(os.path.join(out, "gpu.txt")).readline().strip()
rows = []
for line in open(os.path.join(out, "results.tsv")):
    name, status, secs, log = line.rstrip("\n").split("\t")
    ok = {"0": "PASS", "124": "TIMEOUT", "137": "TIMEOUT", "not-found": "NOT RUN (tool missing)"}.get(
        status, f"FAIL (exit {status})")
    detail = ""
    if name == "gpu_tests":
        try:
            r = json.load(open(os.path.join(out, "gpu_tests.json")))
            skipped = sum(t.get("result") == "SKIPPED" for suite in r["testsuites"] for t in suite["testsuite"])
            detail = f"{r['tests']} tests, {r['failures']} failed, {skipped} skipped"
        except Exception:
            detail = "no gtest JSON (crashed?)"
    elif name == "memcheck":
        text = open(os.path.join(out, log), errors="replace").read()
        detail = ("ERROR SUMMARY: " + text.split("ERROR SUMMARY:")[-1].split("\n")[0].strip()
                  if "ERROR SUMMARY" in text else text.strip().split("\n")[-1][:120])
    elif name == "hf_baseline":
        try:
            b = json.load(open(os.path.join(out, "hf_baseline.json")))
            parts = [f"{k} {b[k]['tokens_per_s']:.0f} tok/s"
                     for k in ("sft_eager", "sft_compiled", "prefill") if k in b]
            if "decode" in b: parts.append(f"decode B1 {b['decode']['B1_tokens_per_s']:.0f} tok/s")
            detail = "; ".join(parts)
        except Exception:
            detail = "no hf_baseline.json"
    elif name.startswith("bench"):
        r = last_json(log)
        if r:
            detail = f"{r['tokens_per_s']:.0f} tok/s"
            if "mfu" in r: detail += f", MFU {100 * r['mfu']:.1f}%"
            for key, label in (("ratio_vs_eager", "vs eager"), ("ratio_vs_compiled", "vs compile"),
                               ("ratio", "vs PyTorch")):
                if key in r: detail += f", {label} {r[key]:.2f}x"
    if not detail and status != "0":  # the error line the step ended with
        lines = [l.strip() for l in open(os.path.join(out, log), errors="replace") if l.strip()]
        detail = lines[-1][:160].replace("|", "/") if lines else ""
    rows.append(f"| {name} | {ok} | {secs} s | {detail} | {log} |")
print(f"# GPU checks on {gpu}\n")
print("| check | result | time | details | log |\n| --- | --- | --- | --- | --- |")
print("\n".join(rows))
print("\nGoals: gpu-train >= 100k tok/s (H200: eager 43.4k, compile 72.6k); gpu-decode >= 1800 tok/s; "
      "gpu-prefill >= 1.5x PyTorch (146k tok/s on H200).")
PY
}

export STEPWISE_FIXTURES_DIR=$dist/fixtures
for s in $steps; do
  case $s in
    tests)
      step gpu_tests 300 gpu_tests.log "${packed[@]}" gpu_tests --gtest_output=json:"$out/gpu_tests.json" ;;
    nccl)
      step nccl_gpu_test 120 nccl_gpu_test.log "${packed[@]}" nccl_gpu_test ;;
    baseline)
      step hf_baseline 420 hf_baseline.log python3 "$dist/hf_baseline.py" --out "$out/hf_baseline.json" \
        ${BASELINE_ONLY:+--only "$BASELINE_ONLY"} ;;
    bench)
      base=()
      [[ -f $out/hf_baseline.json ]] && base=(--baseline "$out/hf_baseline.json")
      step bench_gpu_train 240 bench_gpu_train.log "${packed[@]}" stepwise bench gpu-train "${base[@]}"
      step bench_gpu_prefill 120 bench_gpu_prefill.log "${packed[@]}" stepwise bench gpu-prefill "${base[@]}"
      step bench_gpu_decode 120 bench_gpu_decode.log "${packed[@]}" stepwise bench gpu-decode "${base[@]}"
      # The serving engine at batch 64 (issue 12's goal: >= 30,000 tokens/s), against one request at a time.
      step bench_serve 180 bench_serve.log "${packed[@]}" stepwise bench serve --device cuda --preset qwen3-0.6b \
        --requests 64 --prompt-min 128 --prompt-max 128 --new-min 256 --new-max 256 "${base[@]}" ;;
    memcheck)
      sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
      if [[ -z $sanitizer ]]; then
        echo "compute-sanitizer not found on this host" >"$out/memcheck.log"
        printf 'memcheck\tnot-found\t0\tmemcheck.log\n' >>"$results"
        summarize >/dev/null
        continue
      fi
      filter='Dtypes/Kernels.*:KernelsF32Only.*:Cases/Attention.*:Cases/PagedAttention.*:Fixtures/GpuModel.LogitsLoss*'
      step memcheck 420 memcheck.log "${packed[@]}" "$sanitizer" --tool memcheck --error-exitcode 1 gpu_tests \
        --gtest_filter="$filter" ;;
    *) echo "run_gpu_checks: unknown step '$s' (steps: tests nccl baseline bench memcheck)" >&2; exit 2 ;;
  esac
done
summarize
echo
cat "$out/summary.md"
# Exit status: failure if any step failed.
! cut -f2 "$results" | grep -qv '^0$'
