// JobScheduler: the coordinator's jobs (`stepwise serve --state-dir DIR`). Submitted specs are checked, stored
// (serve/job_store.h) and handed to a launcher: "local" jobs wait in a FIFO queue until the host has slots for all
// their ranks (--local-slots), "slurm" jobs go to sbatch at once (Slurm queues them). A monitor thread follows
// every active job a few times a second: it starts queued ones, asks the launchers where the others are, reads the
// runs' metrics.jsonl for progress, and ends each job SUCCEEDED, FAILED (with its last log lines) or CANCELLED.
//
// Nothing needed to follow a job lives only in this process: after a crash (kill -9 included) a scheduler on the
// same DIR finds every job in the store and asks the launchers about the active ones; what ran on meanwhile is
// reattached, what ended is ended with its real status, and a job whose processes vanished is FAILED saying so.
// One coordinator per DIR (DIR/coordinator.lock, an flock that dies with its holder).
//
// Layout: DIR/jobs.db; DIR/jobs/ID/ holds config.yaml (sft), command.json, output.log (every rank's output),
// heartbeat.json and exit.json (local), job.sbatch (slurm), and run/ (an sft job's output when its config names
// none).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "serve/job_launcher.h"
#include "serve/job_spec.h"
#include "serve/job_store.h"

namespace stepwise::serve {

struct JobSchedulerOptions {
  std::string state_dir;
  int local_slots = 1;         // ranks of local jobs running at once
  std::string binary;          // stepwise, for the jobs' commands; stepwise-job-supervisor is beside it
  std::string mpirun = "mpirun";
  double cancel_grace_s = 10;  // SIGTERM, then SIGKILL
  std::vector<std::string> sbatch_args;  // for every Slurm job
  CommandCheck check_command;            // parses a stepwise command line without running it
  double poll_interval_s = 0.25;
};

class JobScheduler {
 public:
  explicit JobScheduler(JobSchedulerOptions options);
  ~JobScheduler();  // stops following the jobs; they run on, and a later scheduler on the same DIR reattaches
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  v1::Job submit(v1::JobSpec spec);  // INVALID_ARGUMENT / FAILED_PRECONDITION naming the problem
  v1::Job get(const std::string& id) const;  // NOT_FOUND
  std::vector<v1::Job> list(const std::vector<v1::JobState>& states, int limit) const;
  v1::Job cancel(const std::string& id);

  // A counter that grows whenever a job changes (state, progress, a poll of its output). Waits at most
  // `timeout_s` for it to pass `seen`; returns its value.
  uint64_t wait_for_change(uint64_t seen, double timeout_s) const;
  std::string job_dir(const std::string& id) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Progress;  // a run's metrics.jsonl, read as it grows

  void monitor();
  void start_queued(std::unique_lock<std::mutex>& lock);
  void follow(int64_t id, const LaunchStatus& status);
  void finish(JobRecord& r, v1::JobState state, int exit_code, const std::string& message);
  void read_progress(JobRecord& r);
  void commit(const JobRecord& r);  // store, then wake the watchers (with mu_ held)
  JobLauncher* launcher_for(const JobRecord& r) const;
  std::string log_tail(const JobRecord& r) const;

  JobSchedulerOptions options_;
  std::string workdir_;  // the coordinator's working directory: jobs run there
  int lock_fd_ = -1;
  JobStore store_;
  std::unique_ptr<JobLauncher> local_, slurm_;  // slurm_ null without sbatch

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t version_ = 0;
  std::map<int64_t, JobRecord> active_;  // queued and running, oldest first
  std::map<int64_t, std::unique_ptr<Progress>> progress_;
  std::map<int64_t, Clock::time_point> cancel_sent_, progress_stored_;
  std::set<int64_t> reattached_;  // active when this scheduler started
  bool stop_ = false, wake_ = false;
  std::thread thread_;
};

}  // namespace stepwise::serve
