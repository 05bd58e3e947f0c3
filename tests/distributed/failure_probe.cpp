// A multi-rank program that fails on purpose, for launch_test.cpp: `throw` raises an error on the last rank while
// the others wait in an all-reduce (the job must end through MpiRuntime's abort), `stall` keeps the last rank away
// from an all-reduce and `stall-setup` away from creating the process grid (the job must end through the
// watchdog). None may hang.
#include <chrono>
#include <cstring>
#include <thread>

#include <mpi.h>

#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"

int main(int argc, char** argv) {
  using namespace stepwise;
  const bool stall = argc > 1 && !std::strcmp(argv[1], "stall");
  const bool stall_setup = argc > 1 && !std::strcmp(argv[1], "stall-setup");
  const MpiRuntime mpi;
  return mpi.run([&] {
    int world_rank = 0, world_size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (stall_setup && world_rank == world_size - 1) std::this_thread::sleep_for(std::chrono::seconds(120));
    ProcessGrid grid = make_process_grid(1, Device::kCPU);
    const bool last = grid.world_rank == grid.world_size - 1;
    if (last && !stall) fail(StatusCode::kInternal, "failure_probe: rank ", grid.world_rank, " fails on purpose");
    if (last) std::this_thread::sleep_for(std::chrono::seconds(120));
    Tensor t = Tensor::zeros({16}, DType::kF32);
    grid.world->all_reduce(t, ReduceOp::kSum);
    grid.world->barrier();
    return 0;
  });
}
