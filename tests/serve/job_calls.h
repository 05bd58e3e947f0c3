// What the job tests do through the Jobs service with the C++ stubs: submit, get, cancel, watch to the end, wait
// for a state; an SFT config for the micro model on token shards prepared once per test binary; and the processes
// of a local job (its supervisor's session), to check that none is left and to clean up after a failed test.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "common/test_dir.h"
#include "server_process.h"
#include "stepwise/v1/jobs.grpc.pb.h"

namespace stepwise::test {

// Token shards of the GSM8K subset (train/ and test/, rows up to 256 tokens), made once per test binary.
const std::string& sft_data_dir();

// configs/sft/tiny-gsm8k.yaml's run on the micro model: `dp` data-parallel ranks, `steps` steps, a checkpoint and an
// evaluation every `every` steps, into `output_dir` (absolute), on sft_data_dir().
std::string sft_config(const std::string& output_dir, int dp, int steps, int every);

struct JobCall {
  grpc::Status status;
  v1::Job job;
};
JobCall submit(const ServerProcess& s, const v1::JobSpec& spec);
JobCall get_job(const ServerProcess& s, const std::string& id);
JobCall cancel_job(const ServerProcess& s, const std::string& id);
v1::JobSpec sft_spec(const std::string& config_yaml, const std::string& launcher = "local");

// The job once `done(job)` holds (polled every 100 ms), or the last seen after `timeout_s` (a test failure then).
v1::Job wait_for_job(const ServerProcess& s, const std::string& id, const std::function<bool(const v1::Job&)>& done,
                     double timeout_s);

// CancelJob, then the job once it has left RUNNING (within `timeout_s`), and the seconds that took.
struct Cancelled {
  v1::Job job;
  double seconds = 0;
};
Cancelled cancel_and_wait(const ServerProcess& s, const std::string& id, double timeout_s);

// WatchJob read to its end.
struct Watched {
  grpc::Status status;
  std::vector<v1::JobEvent> events;
  v1::Job last;                      // the job of the last event that carried one
  std::vector<v1::JobState> states;  // state events, in order
  std::string log;                   // log lines, joined with '\n'
  int progress_events = 0, metrics_lines = 0;
};
Watched watch_job(const ServerProcess& s, const std::string& id, double timeout_s);

// The supervisor of local job `id` (its heartbeat file in STATE_DIR/jobs/ID), -1 when there is none.
pid_t job_supervisor(const std::string& state_dir, const std::string& id);
// Processes whose command line contains `text` (e.g. a job's config path: every rank of it).
std::vector<pid_t> processes_running(const std::string& text);
// Kills every process of the job's session: after a test, whatever happened.
void kill_job_processes(const std::string& state_dir, const std::string& id);

// The step directories under a run's checkpoints/ (complete ones only: they are renamed into place).
std::vector<std::string> checkpoints(const std::string& run_dir);

}  // namespace stepwise::test
