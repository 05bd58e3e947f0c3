#!/usr/bin/env bash
# Run-side half of the GPU checks, on a GPU host (H100/H200, CUDA 13, PyTorch for the baseline), from the packed
# gpu-dist/ that tests/gpu/pack.sh made. Each step has its own time limit, so that one hang loses one step. A device
# call may run 540 s and a task has 900 s of device time, so the steps come in two calls (CALL=1, CALL=2), each with
# limits that sum, with the ~60 s of start and unpacking, to under 540 s:
#   CALL=1 (limits 440 s + 5 x 5 s of kill grace = 465 s), correctness:
#     tests        gpu_tests (160 s): every CUDA kernel against the CPU reference, the model against the fixtures;
#     nccl         nccl_1rank (30 s): the NCCL communicator on one rank; nccl_2ranks (40 s): two ranks under
#                  mpirun -np 2 sharing the GPU (rank_env.sh gives each its own NCCL host id);
#     parallel     parallel_cuda (80 s): the CPU suite's DP=2 and TP=2 equivalence tests (tests/train/
#                  parallel_test.cpp) with run.device: cuda over NCCL;
#     memcheck     memcheck (130 s): compute-sanitizer --tool memcheck over the kernel tests and one model test;
#                  "UNSUPPORTED" (not a failure) where the host refuses the sanitizer.
#   CALL=2 (limits 440 s + 5 x 5 s = 465 s), speed:
#     baseline     hf_baseline (170 s): PyTorch on the same card (apart from the packed libraries, see env.sh),
#                  BASELINE_ONLY=ceilings,sft_eager,prefill,decode unless set (torch.compile does not fit);
#     bench        bench_gpu_train (90 s), bench_gpu_prefill (60 s), bench_gpu_decode (60 s) against that baseline,
#                  bench_serve (60 s, batch 64).
# With neither CALL nor STEPS every step runs (a host without the device-call limit: about 930 s).
# Under this script STEPWISE_GPU_CHECKS=1: a GPU test that finds no usable GPU fails instead of skipping, and a
# skipped test in any gtest JSON output fails its step too.
# Full logs go to $OUT (default ./gpu-out) and summary.md there is rewritten after every step, so a run cut short
# still leaves its table; the table is printed last. Exit status 0 when every step passed or was unsupported.
#   usage: CALL=1 gpu-dist/run_gpu_checks.sh     then     CALL=2 gpu-dist/run_gpu_checks.sh
#          (or tests/gpu/run_gpu_checks.sh [gpu-dist])
#   env:   STEPS="tests nccl parallel memcheck baseline bench" (a subset, overrides CALL), BASELINE_ONLY
#          (hf_baseline.py --only list)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dist=${1:-gpu-dist}
# The packed copy: pack.sh ships the tree compressed (the carry limit); unpack it beside this script once.
if [[ -f $here/payload.tar.gz && ! -f $here/env.sh ]]; then
  tar -C "$here" -xzf "$here/payload.tar.gz" || { echo "run_gpu_checks: cannot unpack $here/payload.tar.gz" >&2; exit 2; }
fi
[[ -f $here/env.sh ]] && dist=$here
out=${OUT:-$PWD/gpu-out}
case ${CALL:-} in
  1) steps=${STEPS:-tests nccl parallel memcheck} ;;
  2) steps=${STEPS:-baseline bench}; BASELINE_ONLY=${BASELINE_ONLY:-ceilings,sft_eager,prefill,decode} ;;
  "") steps=${STEPS:-tests nccl parallel memcheck baseline bench} ;;
  *) echo "run_gpu_checks: CALL must be 1 or 2 (got '$CALL')" >&2; exit 2 ;;
esac
gtest=$out/gtest  # the gtest JSON outputs, named after their step (NAME.json, or NAME-rankN.json under mpirun)
mkdir -p "$out" "$gtest"

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
# never loads the packed libraries; stdbuf keeps the output of a binary that crashes. Its OMPI_* settings (run as
# root, shared-memory transport) matter to mpirun.
mapfile -t packed_env < <(bash -c 'source "$1" >/dev/null 2>&1 &&
  printf "%s\n" "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" "PATH=$PATH" "OPAL_PREFIX=$OPAL_PREFIX" &&
  env | grep "^OMPI_"' _ "$dist/env.sh")
packed=(env "${packed_env[@]}" PMIX_MCA_pcompress_base_silence_warning=1 stdbuf -o0 -e0)
two_ranks=(mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 "$dist/rank_env.sh")

# gtest_verdict STATUS JSON_COUNT JSON...: a gtest step that exited 0 still fails when a test skipped (no usable
# GPU, a missing launcher) or when its JSON output is missing; prints the step's status.
gtest_verdict() {
  local status=$1 want=$2; shift 2
  [[ $status != 0 ]] && { echo "$status"; return; }
  python3 - "$want" "$@" <<'PY'
import json, sys
want, files = int(sys.argv[1]), sys.argv[2:]
try:
    runs = [json.load(open(f)) for f in files]
except Exception:
    runs = []
if len(runs) != want:
    print("no-json")
else:
    skipped = sum(t.get("result") == "SKIPPED" for r in runs for s in r["testsuites"] for t in s["testsuite"])
    print("skipped" if skipped else "0")
PY
}

# memcheck_verdict STATUS LOG: compute-sanitizer is refused on some GPU hosts (no debugger interface in the
# container, a driver it does not support). A failing run whose log reports no memory error of the application and
# says why the tool could not work is "unsupported", not a failure.
memcheck_verdict() {
  local status=$1 log=$2
  if [[ $status == 0 || $status == 124 || $status == 137 ]]; then echo "$status"; return; fi
  if grep -Eq '(Invalid|Misaligned) (__global__|__shared__|__local__|address)|out of bounds|Leaked [0-9]+ bytes' "$log"; then
    echo "$status"
  elif grep -Eiq 'not supported|unsupported|Internal Sanitizer Error|unable to (load|initiali[sz]e|attach)|failed to (load|initiali[sz]e)|before first instrumented API call|debugger interface|permission denied' "$log"; then
    echo unsupported
  else
    echo "$status"
  fi
}

# step NAME LIMIT_SECONDS LOG COMMAND...: runs it, records its status and time, refreshes the summary. When the
# caller has set `verdict=(FUNCTION ARGS...)` for this step, `FUNCTION EXIT_STATUS ARGS...` decides the recorded
# status (gtest_verdict, memcheck_verdict); a timeout stays a timeout.
step() {
  local name=$1 limit=$2 log=$3; shift 3
  echo "== $name (limit ${limit}s) -> $log"
  local t0=$SECONDS status
  timeout --kill-after=5 "$limit" "$@" >"$out/$log" 2>&1
  status=$?
  if [[ $status == 124 || $status == 137 ]]; then
    echo "run_gpu_checks: $name timed out after ${limit}s" >>"$out/$log"
  elif ((${#verdict[@]})); then
    status=$("${verdict[0]}" "$status" "${verdict[@]:1}")
  fi
  verdict=()
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "$log" >>"$results"
  summarize >/dev/null
  tail -n 3 "$out/$log"
}
verdict=()

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
    ok = {"0": "PASS", "124": "TIMEOUT", "137": "TIMEOUT", "not-found": "NOT RUN (tool missing)",
          "unsupported": "UNSUPPORTED (refused on this host)", "skipped": "FAIL (tests skipped)",
          "no-json": "FAIL (no gtest JSON)"}.get(status, f"FAIL (exit {status})")
    detail = ""
    gtest = os.path.join(out, "gtest")
    jsons = sorted(f for f in os.listdir(gtest) if f in (name + ".json",) or f.startswith(name + "-rank"))
    if jsons:  # a gtest step
        try:
            runs = [json.load(open(os.path.join(gtest, f))) for f in jsons]
            tests = sum(r["tests"] for r in runs)
            failed = sum(r["failures"] for r in runs)
            skipped = sum(t.get("result") == "SKIPPED" for r in runs for s in r["testsuites"] for t in s["testsuite"])
            detail = f"{tests} tests, {failed} failed, {skipped} skipped" + (f" ({len(runs)} ranks)" if len(runs) > 1 else "")
        except Exception:
            detail = "unreadable gtest JSON (crashed?)"
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

export STEPWISE_FIXTURES_DIR=$dist/fixtures STEPWISE_GPU_CHECKS=1
for s in $steps; do
  case $s in
    tests)
      verdict=(gtest_verdict 1 "$gtest/gpu_tests.json")
      step gpu_tests 160 gpu_tests.log "${packed[@]}" gpu_tests --gtest_output=json:"$gtest/gpu_tests.json" ;;
    nccl)
      verdict=(gtest_verdict 1 "$gtest/nccl_1rank.json")
      step nccl_1rank 30 nccl_1rank.log "${packed[@]}" nccl_gpu_test --gtest_filter=-*TwoRanks* \
        --gtest_output=json:"$gtest/nccl_1rank.json"
      verdict=(gtest_verdict 2 "$gtest/nccl_2ranks-rank0.json" "$gtest/nccl_2ranks-rank1.json")
      step nccl_2ranks 40 nccl_2ranks.log env GTEST_JSON_PREFIX="$gtest/nccl_2ranks" "${packed[@]}" "${two_ranks[@]}" \
        "$dist/bin/nccl_gpu_test" --gtest_filter=*TwoRanks* ;;
    parallel)
      verdict=(gtest_verdict 1 "$gtest/parallel_cuda.json")
      step parallel_cuda 80 parallel_cuda.log env STEPWISE_PARALLEL_DEVICE=cuda \
        STEPWISE_PARALLEL_COMMAND="${two_ranks[*]} $dist/bin/stepwise" "${packed[@]}" train_tests \
        --gtest_filter='DataParallel.*:TensorParallel.*' --gtest_output=json:"$gtest/parallel_cuda.json" ;;
    baseline)
      step hf_baseline 170 hf_baseline.log python3 "$dist/hf_baseline.py" --out "$out/hf_baseline.json" \
        ${BASELINE_ONLY:+--only "$BASELINE_ONLY"} ;;
    bench)
      base=()
      [[ -f $out/hf_baseline.json ]] && base=(--baseline "$out/hf_baseline.json")
      step bench_gpu_train 90 bench_gpu_train.log "${packed[@]}" stepwise bench gpu-train "${base[@]}"
      step bench_gpu_prefill 60 bench_gpu_prefill.log "${packed[@]}" stepwise bench gpu-prefill "${base[@]}"
      step bench_gpu_decode 60 bench_gpu_decode.log "${packed[@]}" stepwise bench gpu-decode "${base[@]}"
      # The serving engine at batch 64 (issue 12's goal: >= 30,000 tokens/s), against one request at a time.
      step bench_serve 60 bench_serve.log "${packed[@]}" stepwise bench serve --device cuda --preset qwen3-0.6b \
        --requests 64 --prompt-min 128 --prompt-max 128 --new-min 256 --new-max 256 "${base[@]}" ;;
    memcheck)
      sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
      if [[ -z $sanitizer ]]; then
        echo "compute-sanitizer not found on this host" >"$out/memcheck.log"
        printf 'memcheck\tnot-found\t0\tmemcheck.log\n' >>"$results"
        summarize >/dev/null
        continue
      fi
      # The kernels (without the full-vocabulary loss: its CPU reference dominates, and the same kernels run at
      # small sizes) and one model test; memcheck slows kernels 10-100x.
      filter='Dtypes/Kernels.*:KernelsF32Only.*:Dtypes/FusedKernels.*:FusedKernelsF32Only.*:Cases/Attention.*'
      filter+=':Cases/PagedAttention.*'
      filter+=':Fixtures/GpuModel.LogitsLoss*/qwen3_tiny_a_*-*FullVocabulary*'
      verdict=(memcheck_verdict "$out/memcheck.log")
      step memcheck 130 memcheck.log "${packed[@]}" "$sanitizer" --tool memcheck --error-exitcode 1 gpu_tests \
        --gtest_filter="$filter" ;;
    *) echo "run_gpu_checks: unknown step '$s' (steps: tests nccl parallel memcheck baseline bench)" >&2; exit 2 ;;
  esac
done
summarize
echo
cat "$out/summary.md"
# Exit status: failure if any step failed; a sanitizer the host refuses is reported, not failed.
! cut -f2 "$results" | grep -qvE '^(0|unsupported)$'
