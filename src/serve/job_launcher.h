// JobLauncher: where a job's processes run, behind one interface the scheduler drives: start it, ask where it is,
// cancel it. Nothing about a running job is kept only in memory: `poll` works from the job's stored handle and the
// files in its job folder, so a restarted coordinator reattaches by calling it. LocalLauncher (local_launcher.h):
// a supervisor process per job on this host; SlurmLauncher (slurm_launcher.h): a batch job per job.
#pragma once

#include <string>
#include <vector>

#include "serve/job_spec.h"
#include "serve/job_store.h"
#include "serve/job_supervisor.h"  // ExitRecord

namespace stepwise::serve {

struct LaunchStatus {
  enum class Phase {
    kQueued,    // waiting in the launcher's own queue (Slurm PENDING)
    kRunning,
    kEnded,     // exit_code, failed_step and cancelled are set
    kVanished,  // no process and no exit record: killed from outside, or the host restarted
  };
  Phase phase = Phase::kVanished;
  int exit_code = -1;
  int failed_step = 0;
  bool cancelled = false;
  std::string detail;  // the launcher's own words (Slurm's state and reason)

  static LaunchStatus ended(const ExitRecord& exit) {
    LaunchStatus s;
    s.phase = Phase::kEnded;
    s.exit_code = exit.exit_code;
    s.failed_step = exit.failed_step;
    s.cancelled = exit.cancelled;
    return s;
  }
};

class JobLauncher {
 public:
  virtual ~JobLauncher() = default;
  // Starts the job's steps (JobRecord::handle is still empty); returns the handle to store.
  virtual std::string start(const JobRecord& job, const std::vector<JobStep>& steps, const std::string& job_dir) = 0;
  virtual LaunchStatus poll(const JobRecord& job, const std::string& job_dir) = 0;
  // Asks the job to end (it ends CANCELLED at a later poll); `force`: kill whatever is left at once.
  virtual void cancel(const JobRecord& job, const std::string& job_dir, bool force) = 0;
};

}  // namespace stepwise::serve
