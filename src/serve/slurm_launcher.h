// SlurmLauncher: jobs as Slurm batch jobs. start() fills in launch/slurm/job.sbatch (built into the binary), writes
// it to the job's folder and submits it with `sbatch --parsable`; the handle is Slurm's job id. poll() asks squeue
// (PENDING: queued; RUNNING: running), then the job's exit record (written by the script), then `scontrol show job`
// (a job cancelled or killed before its script could write one); a controller that does not answer leaves the job
// as it was. cancel() is scancel. The job's folder must be on a filesystem the nodes share.
#pragma once

#include <string>
#include <vector>

#include "serve/job_launcher.h"

namespace stepwise::serve {

struct SlurmLauncherOptions {
  std::string binary;                   // stepwise, as the nodes see it
  std::vector<std::string> sbatch_args;  // for every job (--partition=..., --account=...)
};

class SlurmLauncher final : public JobLauncher {
 public:
  explicit SlurmLauncher(SlurmLauncherOptions options) : options_(std::move(options)) {}
  std::string start(const JobRecord& job, const std::vector<JobStep>& steps, const std::string& job_dir) override;
  LaunchStatus poll(const JobRecord& job, const std::string& job_dir) override;
  void cancel(const JobRecord& job, const std::string& job_dir, bool force) override;

  // sbatch on this host's PATH.
  static bool available();

 private:
  SlurmLauncherOptions options_;
};

// launch/slurm/job.sbatch as built in (job_sbatch.cpp, generated).
extern const char* const kJobSbatchTemplate;

}  // namespace stepwise::serve
