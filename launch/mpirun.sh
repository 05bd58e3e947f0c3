#!/usr/bin/env bash
# launch/mpirun.sh: runs `stepwise` on many ranks with Open MPI: a hostfile, ranks per node, one OpenMP team per
# rank, and the environment every rank needs. Everything after the options (or after --) goes to stepwise.
#
#   launch/mpirun.sh [-n RANKS] [--hostfile FILE] [--ranks-per-node R] [--oversubscribe] [--] <stepwise args>
#
#   launch/mpirun.sh -n 2 score --tp 2 --model tests/data/fixtures/qwen3-tiny-a --tokens ids.jsonl
#   launch/mpirun.sh -n 16 --hostfile hosts --ranks-per-node 8 train --config configs/sft/qwen3-0.6b-math.yaml
#
# Ranks are placed by node (ppr:R:node), so that consecutive ranks — one tensor-parallel group — share a node.
# Passed to every rank: OMP_NUM_THREADS (default: this host's cores / ranks per node), every STEPWISE_*, NCCL_*,
# UCX_*, CUDA_VISIBLE_DEVICES, PATH and LD_LIBRARY_PATH. The binary is $STEPWISE_BIN, else build/bin/stepwise of
# this checkout, else `stepwise` on PATH. When any rank fails, stepwise aborts the whole job (exit status non-zero).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

# The value of option $1 (in $2); an error naming the option when there is none.
value_of() { [[ $# -ge 2 ]] || { echo "launch/mpirun.sh: $1 needs a value" >&2; exit 2; }; }

ranks=1 hostfile="" per_node="" oversubscribe=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|-np) value_of "$@"; ranks="$2"; shift 2 ;;
    --hostfile) value_of "$@"; hostfile="$2"; shift 2 ;;
    --ranks-per-node) value_of "$@"; per_node="$2"; shift 2 ;;
    --oversubscribe) oversubscribe=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) echo "launch/mpirun.sh: unknown option $1" >&2; usage 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "launch/mpirun.sh: give a stepwise command (score, generate, train, bench ...)" >&2; exit 2; }
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] ||
  { echo "launch/mpirun.sh: -n needs a positive rank count, got '$ranks'" >&2; exit 2; }
[[ -z "$per_node" || "$per_node" =~ ^[1-9][0-9]*$ ]] ||
  { echo "launch/mpirun.sh: --ranks-per-node needs a positive count, got '$per_node'" >&2; exit 2; }
[[ -z "$hostfile" || -r "$hostfile" ]] ||
  { echo "launch/mpirun.sh: cannot read hostfile '$hostfile'" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${STEPWISE_BIN:-}"
if [[ -z "$bin" ]]; then
  if [[ -x "$root/build/bin/stepwise" ]]; then
    bin="$root/build/bin/stepwise"
  else
    bin="$(command -v stepwise || true)"
  fi
fi
[[ -z "${STEPWISE_BIN:-}" || -x "$bin" ]] ||
  { echo "launch/mpirun.sh: STEPWISE_BIN=$bin is not an executable file" >&2; exit 2; }
[[ -n "$bin" ]] ||
  { echo "launch/mpirun.sh: no stepwise binary: build it (scripts/build.sh) or set STEPWISE_BIN" >&2; exit 2; }

args=(-np "$ranks" --bind-to none)
[[ -n "$hostfile" ]] && args+=(--hostfile "$hostfile")
[[ -n "$per_node" ]] && args+=(--map-by "ppr:${per_node}:node")
[[ "$oversubscribe" == 1 ]] && args+=(--oversubscribe)
[[ "$(id -u)" == 0 ]] && args+=(--allow-run-as-root)

local_ranks="${per_node:-$ranks}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / local_ranks > 0 ? $(nproc) / local_ranks : 1 ))}"
for name in OMP_NUM_THREADS PATH LD_LIBRARY_PATH CUDA_VISIBLE_DEVICES \
  $(compgen -e | grep -E '^(STEPWISE|NCCL|UCX)_' || true); do
  [[ -n "${!name+x}" ]] && args+=(-x "$name")
done

exec mpirun "${args[@]}" "$bin" "$@"
