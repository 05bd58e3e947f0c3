// ProcessGrid: the ranks of a job arranged as TP x DP (tensor-parallel ranks adjacent, as in Megatron: world
// rank = dp_rank * tp_size + tp_rank), with a communicator for the whole world, for this rank's TP group and for
// its DP group. A single process is the 1 x 1 grid.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/communicator.h"

namespace stepwise {

struct ProcessGrid {
  int world_rank = 0, world_size = 1;
  int tp_rank = 0, tp_size = 1;
  int dp_rank = 0, dp_size = 1;
  std::unique_ptr<Communicator> world, tp, dp;

  bool is_root() const { return world_rank == 0; }  // logs, manifests, stdout
};

ProcessGrid make_single_process_grid();

// The grid of MPI_COMM_WORLD (MPI must be running: see MpiRuntime; without it only tp = dp = 1 is possible and
// gives the single-process grid). dp_size 0 means world size / tp_size. Errors name the world size, tp and dp
// when they do not multiply. Device::kCPU: MPI communicators; Device::kCUDA: NCCL communicators (one GPU per rank,
// chosen by the node-local rank), bootstrapped over MPI or, without MPI, from the environment
// (distributed/nccl_communicator.h). Only rank 0 logs INFO from here on.
ProcessGrid make_process_grid(int tp_size, Device device, int dp_size = 0);

// The job-wide synchronisation points, over the world group (the TP and DP groups have tensor_parallel.h and
// data_parallel.h): a checkpoint waits until every rank has written its files and shares their checksums; the
// scaling benchmark starts its steps together; a conversion shares host names and file checksums and renames its
// output host by host.
void wait_for_every_rank(const ProcessGrid& grid);
// Every rank's `words` (the same count on each), in world-rank order, on every rank.
std::vector<int32_t> gather_from_every_rank(const ProcessGrid& grid, const std::vector<int32_t>& words);

}  // namespace stepwise
