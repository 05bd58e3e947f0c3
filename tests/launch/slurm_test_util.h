// Talking to the test cluster (scripts/slurm-local.sh, ctest fixture slurm_local; SLURM_CONF names it) from a
// test: is it up, submit a batch job, follow it to its end through the job-completion log (accounting is off, so
// sacct cannot), the pids of its ranks, cancel it.
#pragma once

#include <string>
#include <vector>

#include "launch_test_util.h"

namespace stepwise::launch_test {

// Empty when the cluster answers; otherwise what is wrong and what to do.
std::string slurm_problem();

struct SubmitResult {
  long job_id = -1;  // -1 when sbatch refused the job
  test::ProcessResult sbatch;
};
// Runs `sbatch --parsable <args>` in directory `cwd` with extra environment assignments `env` ("A=1 B=2").
SubmitResult sbatch(const std::string& cwd, const std::string& env, const std::string& args);

struct JobEnd {
  bool ended = false;     // false: still queued or running at the deadline
  std::string state;      // COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
  std::string exit_code;  // "status:signal", e.g. "0:0"
  std::string record;     // the job-completion log line
  double waited_s = 0;
};
// Waits (at most timeout_s) for the job's line in the job-completion log (JobCompLoc of the cluster).
JobEnd wait_for_job_end(long job_id, double timeout_s);

// The job's state while Slurm knows it (RUNNING, PENDING, ...), from `scontrol show job`.
std::string job_state(long job_id);
// Queued or running (not ended, not unknown).
bool job_active(long job_id);

// Pid of global rank `rank` in step `step` of the job, from `scontrol listpids`; -1 when not (yet) there.
long rank_pid(long job_id, int step, int rank);

// Cancels the job when the guard ends, so that a test that fails half-way leaves no job behind.
class JobGuard {
 public:
  explicit JobGuard(long job_id) : job_id_(job_id) {}
  ~JobGuard();
  JobGuard(const JobGuard&) = delete;
  JobGuard& operator=(const JobGuard&) = delete;

 private:
  long job_id_;
};

}  // namespace stepwise::launch_test
