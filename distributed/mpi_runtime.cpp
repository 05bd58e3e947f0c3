// MPI start-up and shut-down, launcher detection, and the abort-on-error policy of multi-rank runs.
#include "distributed/mpi_runtime.h"

#include <cstdlib>
#include <exception>

#include "core/status.h"
#include "distributed/mpi_check.h"
#include "distributed/watchdog.h"

namespace stepwise {

namespace detail {
void mpi_failed(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  fail(StatusCode::kUnavailable, file, ":", line, ": ", call, " failed: ", std::string(text, length),
       " (every rank must run the same collectives in the same order with the same sizes; check the launcher "
       "and the network)");
}
}  // namespace detail

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(var)) return true;
  return false;
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

MpiRuntime::MpiRuntime() {
  int initialized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    owns_ = true;
  }
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
}

MpiRuntime::~MpiRuntime() {
  if (owns_ && mpi_running()) MPI_Finalize();
}

int MpiRuntime::run(const std::function<int()>& body) const {
  if (size_ == 1) return body();
  try {
    return body();
  } catch (const std::exception& e) {
    abort_job(
        detail::concat("rank ", rank_, " of ", size_, ": error: ", e.what(), " — aborting every rank of the job"));
  }
}

int run_with_mpi_if_needed(bool needs_mpi, const std::function<int()>& body) {
  if (!needs_mpi && !launched_by_mpi()) return body();
  const MpiRuntime mpi;
  return mpi.run(body);
}

}  // namespace stepwise
