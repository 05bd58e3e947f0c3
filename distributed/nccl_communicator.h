// The NCCL backend of Communicator (built with STEPWISE_HAS_CUDA): collectives on GPU tensors (f32, bf16, f16,
// i32). Each communicator enqueues on a stream of its own, created blocking so that it is ordered after the work
// already on the legacy default stream (where the kernels run), and waits for the collective before returning,
// as the MPI backend does; the collective watchdog bounds that wait.
//
// Bootstrap: every rank needs rank 0's ncclUniqueId. Under MPI it is broadcast over MPI_COMM_WORLD. Without an
// MPI launcher (torchrun-style or plain srun) ranks come from the environment (STEPWISE_RANK / STEPWISE_WORLD_SIZE
// / STEPWISE_LOCAL_RANK, else RANK / WORLD_SIZE / LOCAL_RANK, else SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), and
// the id travels through a file on a shared filesystem named by STEPWISE_NCCL_ID_FILE: rank 0 writes it
// atomically, the others wait for it (up to the collective timeout). The TP and DP groups are split from the world
// communicator with ncclCommSplit.
#pragma once

#include <memory>
#include <string>

#include "distributed/communicator.h"

namespace stepwise {

// Ranks of this process as the launcher's environment gives them.
struct LaunchRanks {
  int rank = 0, size = 1, local_rank = 0;
};
LaunchRanks launch_ranks_from_env();

struct NcclGroups {
  std::unique_ptr<Communicator> world, tp, dp;
};

// Selects GPU local_rank (modulo the GPUs visible), bootstraps the world communicator (over MPI when it is
// running, else through STEPWISE_NCCL_ID_FILE) and splits it into TP groups (adjacent ranks) and DP groups.
NcclGroups make_nccl_groups(int world_rank, int world_size, int local_rank, int tp_size);

}  // namespace stepwise
