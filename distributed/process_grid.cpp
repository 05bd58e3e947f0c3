// The TP x DP process grid: the 1 x 1 grid of a single process, and the grid of a launched job (MPI
// communicators from MPI_Comm_split for CPU tensors, NCCL communicators for GPU tensors).
#include "distributed/process_grid.h"

#include <mpi.h>

#include "core/logging.h"
#include "core/status.h"
#include "distributed/mpi_check.h"
#include "distributed/mpi_communicator.h"
#include "distributed/mpi_runtime.h"
#include "distributed/watchdog.h"
#ifdef STEPWISE_HAS_CUDA
#include "distributed/nccl_communicator.h"
#endif

namespace stepwise {

namespace {

struct WorldRanks {
  int rank = 0, size = 1, local_rank = 0;
};

WorldRanks world_ranks(Device device) {
  WorldRanks w;
  if (mpi_running()) {
    const SetupDeadline deadline("finding the node-local rank (MPI_Comm_split_type of MPI_COMM_WORLD)");
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &w.size));
    MPI_Comm node;  // the ranks sharing this node: the local rank picks the GPU
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, &w.local_rank));
    MPI_CHECK(MPI_Comm_free(&node));
    return w;
  }
#ifdef STEPWISE_HAS_CUDA
  if (device == Device::kCUDA) {  // NCCL without an MPI launcher: ranks from the environment
    const LaunchRanks env = launch_ranks_from_env();
    return {env.rank, env.size, env.local_rank};
  }
#else
  (void)device;
#endif
  return w;
}

}  // namespace

ProcessGrid make_single_process_grid() {
  ProcessGrid g;
  g.world = make_single_process_communicator("world");
  g.tp = make_single_process_communicator("tp");
  g.dp = make_single_process_communicator("dp");
  return g;
}

ProcessGrid make_process_grid(int tp_size, Device device, int dp_size) {
  if (tp_size < 1 || dp_size < 0) invalid_argument("tp (", tp_size, ") must be >= 1 and dp (", dp_size, ") >= 0");
  const WorldRanks w = world_ranks(device);
  if (dp_size == 0) {
    if (w.size % tp_size != 0)
      invalid_argument("the world size ", w.size, " is not divisible by tp ", tp_size, " (dp would be ", w.size, " / ",
                       tp_size, "); launch a multiple of ", tp_size, " ranks");
    dp_size = w.size / tp_size;
  }
  if (tp_size * dp_size != w.size)
    invalid_argument("world size ", w.size, " != tp ", tp_size, " x dp ", dp_size,
                     "; launch tp x dp = ", tp_size * dp_size, " ranks (mpirun -np ", tp_size * dp_size, ")",
                     w.size == 1 ? ", or start MPI: the process was not launched by mpirun/srun" : "");
  set_log_rank(w.rank);
  if (w.size == 1) return make_single_process_grid();

  ProcessGrid g;
  g.world_rank = w.rank;
  g.world_size = w.size;
  g.tp_size = tp_size;
  g.dp_size = dp_size;
  g.tp_rank = w.rank % tp_size;  // TP ranks adjacent: they share a node's fast links
  g.dp_rank = w.rank / tp_size;
  if (device == Device::kCUDA) {
#ifdef STEPWISE_HAS_CUDA
    NcclGroups n = make_nccl_groups(w.rank, w.size, w.local_rank, tp_size);
    g.world = std::move(n.world);
    g.tp = std::move(n.tp);
    g.dp = std::move(n.dp);
    return g;
#else
    fail(StatusCode::kFailedPrecondition, "a GPU process grid needs a build with CUDA and NCCL (-DSTEPWISE_CUDA=ON)");
#endif
  }
  const SetupDeadline deadline("creating the TP and DP groups (MPI_Comm_split of MPI_COMM_WORLD)");
  MPI_Comm world, tp, dp;
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &world));
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, /*color=*/g.dp_rank, /*key=*/g.tp_rank, &tp));
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, /*color=*/g.tp_rank, /*key=*/g.dp_rank, &dp));
  g.world = make_mpi_communicator(world, "world");
  g.tp = make_mpi_communicator(tp, "tp");
  g.dp = make_mpi_communicator(dp, "dp");
  return g;
}

void wait_for_every_rank(const ProcessGrid& grid) { grid.world->barrier(); }

std::vector<int32_t> gather_from_every_rank(const ProcessGrid& grid, const std::vector<int32_t>& words) {
  const int64_t n = static_cast<int64_t>(words.size());
  const Device device = grid.world->device();
  Tensor all = Tensor::empty({n * grid.world_size}, DType::kI32, device);
  grid.world->all_gather(all, Tensor::from_vector(words, {n}).to(device));
  const Tensor host = all.to(Device::kCPU);
  return std::vector<int32_t>(host.data_as<int32_t>(), host.data_as<int32_t>() + n * grid.world_size);
}

}  // namespace stepwise
