// LocalLauncher: jobs on the coordinator's host. Each job gets a supervisor (`stepwise-job-supervisor JOB_DIR`,
// serve/job_supervisor.h) started in a session of its own, so that it and the job's ranks outlive the coordinator
// (kill -9 included) and every process of the job can be found and signalled by session. The handle is the
// supervisor's identity (pid and start time); a restarted coordinator finds it by that, or in the supervisor's
// heartbeat file when the coordinator died before storing it.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "serve/job_launcher.h"

namespace stepwise::serve {

struct LocalLauncherOptions {
  std::string binary;      // stepwise, for the steps
  std::string supervisor;  // stepwise-job-supervisor
  std::string mpirun = "mpirun";
  std::vector<std::pair<std::string, std::string>> env;  // for every job (OMP_NUM_THREADS per rank)
  double cancel_grace_s = 10;  // SIGTERM, then SIGKILL after this long
};

class LocalLauncher final : public JobLauncher {
 public:
  explicit LocalLauncher(LocalLauncherOptions options) : options_(std::move(options)) {}
  std::string start(const JobRecord& job, const std::vector<JobStep>& steps, const std::string& job_dir) override;
  LaunchStatus poll(const JobRecord& job, const std::string& job_dir) override;
  void cancel(const JobRecord& job, const std::string& job_dir, bool force) override;

 private:
  void reap();  // supervisors this process started and that have ended: no zombies

  LocalLauncherOptions options_;
  std::mutex mu_;
  std::set<pid_t> children_;
};

}  // namespace stepwise::serve
