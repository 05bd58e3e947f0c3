// MpiRuntime: MPI_Init_thread / MPI_Finalize for the lifetime of one object, and the job-wide error policy of a
// multi-rank run: an exception on any rank is printed with that rank and ends every rank with MPI_Abort(..., 1),
// so no peer waits forever in a collective (hangs inside collectives are bounded by distributed/watchdog.h).
//
// The CLI starts MPI only when it runs under a launcher (mpirun, srun) or when asked for more than one rank:
//
//   return run_with_mpi_if_needed(tp > 1, [&] { ...; return 0; });
#pragma once

#include <functional>

namespace stepwise {

// True under mpirun / srun / a PMI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK, SLURM_STEP_NUM_TASKS).
bool launched_by_mpi();
// MPI is initialised and not yet finalised.
bool mpi_running();

class MpiRuntime {
 public:
  MpiRuntime();   // initialises MPI (MPI_THREAD_MULTIPLE: the watchdog may abort from its own thread)
  ~MpiRuntime();  // finalises MPI, if this object initialised it
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int world_rank() const { return rank_; }
  int world_size() const { return size_; }

  // Runs body and returns its exit code. On more than one rank, an exception is printed as
  // "rank R of N: error: ..." and ends the job with MPI_Abort(MPI_COMM_WORLD, 1); on one rank it propagates.
  int run(const std::function<int()>& body) const;

 private:
  bool owns_ = false;
  int rank_ = 0, size_ = 1;
};

// body under an MpiRuntime when launched_by_mpi() or `needs_mpi`, else plainly.
int run_with_mpi_if_needed(bool needs_mpi, const std::function<int()>& body);

}  // namespace stepwise
