// ProcessGrid: the ranks of a job arranged as TP x DP (tensor-parallel ranks adjacent, as in Megatron: world
// rank = dp_rank * tp_size + tp_rank), with a communicator for the whole world, for this rank's TP group and for
// its DP group. A single process is the 1 x 1 grid.
#pragma once

#include <memory>

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

}  // namespace stepwise
