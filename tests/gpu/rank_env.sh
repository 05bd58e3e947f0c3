#!/usr/bin/env bash
# One rank of a two-rank check on a GPU host with one GPU: run_gpu_checks.sh starts `mpirun -np 2 rank_env.sh
# PROGRAM ARGS...`. NCCL refuses two ranks of one host on one GPU ("Duplicate GPU detected", ncclInvalidUsage); a
# host id of its own per rank makes NCCL see two hosts, and it then connects them with its socket transport over the
# loopback interface (the GPU host has no network, and no InfiniBand to try first). This is for correctness only:
# the traffic goes through host sockets, not NVLink or PCIe peer copies.
# GTEST_JSON_PREFIX, when set, gives each rank its own gtest JSON file (PREFIX-rankN.json): one shared path would
# keep only the rank that wrote last.
set -euo pipefail
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-0}}
export NCCL_HOSTID=stepwise-check-rank-$rank NCCL_SOCKET_IFNAME=lo NCCL_IB_DISABLE=1
if [[ -n ${GTEST_JSON_PREFIX:-} ]]; then export GTEST_OUTPUT=json:$GTEST_JSON_PREFIX-rank$rank.json; fi
exec "$@"
