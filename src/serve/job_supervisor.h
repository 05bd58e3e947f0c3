// The supervisor of a local job (`stepwise-job-supervisor JOB_DIR`, a small program beside `stepwise` that the
// coordinator starts in a session of its own; small, because the stepwise binary takes half a second to start and
// a job of a few seconds should not pay that twice): runs the job's steps one after another (JOB_DIR/command.json; a step of more than one rank under mpirun),
// their output appended to JOB_DIR/output.log; rewrites JOB_DIR/heartbeat.json every second (its identity, the
// step running); and, when the steps are over, writes JOB_DIR/exit.json. So the coordinator can die and come back:
// the job runs on, and the files say where it is and how it ended.
//
// SIGTERM cancels: SIGTERM to every other process of the session (mpirun and the ranks, which Open MPI puts in
// process groups of their own but never in another session), SIGKILL to what is left after the grace period. After
// each step, whatever of it is still alive is killed and waited for, so no rank outlives its job: exit.json is
// written when the supervisor is the last process of its session.
#pragma once

#include <string>
#include <utility>
#include <vector>


namespace stepwise::serve {

// One command of a job: `ranks` processes of `stepwise ARGS` (ranks > 1: under mpirun, or srun on Slurm).
struct JobStep {
  int ranks = 1;
  std::vector<std::string> args;
};

struct SupervisorCommand {
  std::string binary;   // stepwise
  std::string mpirun;   // for steps of more than one rank
  std::string workdir;  // the steps' working directory
  std::vector<JobStep> steps;
  std::vector<std::pair<std::string, std::string>> env;  // set for every step (and passed to every rank)
  double cancel_grace_s = 10;
};

// How a job ended (JOB_DIR/exit.json; the Slurm batch script writes the same).
struct ExitRecord {
  int exit_code = -1;   // of the first step that failed, else 0; -1: ended by a signal
  int failed_step = 0;  // 1-based; 0: none failed
  bool cancelled = false;
};

void write_supervisor_command(const std::string& job_dir, const SupervisorCommand& command);
// False when JOB_DIR/exit.json is not there (yet).
bool read_exit_record(const std::string& job_dir, ExitRecord& record);

// The body of `stepwise-job-supervisor`; returns its exit status (0 once exit.json is written).
int run_job_supervisor(const std::string& job_dir);

}  // namespace stepwise::serve
