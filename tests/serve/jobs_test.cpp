// Jobs on a coordinator (`stepwise serve --state-dir`), local launcher, as users meet them: a 2-rank SFT job that
// outlives its coordinator killed with SIGKILL and ends SUCCEEDED under the next one, WatchJob streaming its progress,
// its exported model then served by a worker; a cancel that ends every rank within seconds, keeps the checkpoint,
// and a resubmission that resumes from it; bad specs refused at submit naming the key and line, with nothing
// stored; a job that crashes FAILED with its last log lines; a 2-rank convert job; a job whose processes vanished
// while no coordinator ran FAILED saying so. Each test cleans up its job processes whatever happens.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "common/process.h"
#include "core/process_session.h"
#include "grpc_calls.h"
#include "job_calls.h"
#include "server_process.h"

namespace stepwise::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kJobTimeoutS = 300;  // a 12-step tiny run takes ~15 s on an idle 2-core machine
constexpr double kCancelWithinS = 20;  // "within seconds": SIGTERM, a 5 s grace period, room for a loaded machine

// A coordinator on `state_dir` with 2 local slots and a short grace period.
std::unique_ptr<ServerProcess> coordinator(const std::string& state_dir) {
  auto s = std::make_unique<ServerProcess>("--state-dir " + state_dir + " --local-slots 2 --cancel-grace 5");
  EXPECT_NE(s->port(), 0) << s->stderr_text();
  return s;
}

// Kills the job's processes when the test ends, passed or not.
struct JobCleanup {
  std::string state_dir;
  std::vector<std::string> ids;
  ~JobCleanup() {
    for (const std::string& id : ids) kill_job_processes(state_dir, id);
  }
};

bool running_at_step(const v1::Job& j, int64_t step) {
  return j.state() == v1::JOB_STATE_RUNNING && j.progress().step() >= step;
}

TEST(Jobs, SftJobOutlivesACoordinatorKilledWithSigkillAndItsModelIsServed) {
  const std::string state = fresh_test_dir("restart"), run = state + "-run";
  JobCleanup cleanup{state, {}};
  auto first = coordinator(state);
  const JobCall submitted = submit(*first, sft_spec(sft_config(run, 2, 12, 4)));
  ASSERT_TRUE(submitted.status.ok()) << submitted.status.error_message();
  const std::string id = submitted.job.id();
  cleanup.ids.push_back(id);
  EXPECT_EQ(submitted.job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(submitted.job.ranks(), 2);  // the config's tp x dp
  EXPECT_EQ(submitted.job.output_dir(), run);
  const v1::Job started = wait_for_job(*first, id, [](const v1::Job& j) { return running_at_step(j, 2); },
                                       kJobTimeoutS);
  ASSERT_EQ(started.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(started.progress().total_steps(), 12);

  first->signal_group(SIGKILL);
  first->wait(10);
  first.reset();
  const pid_t supervisor = job_supervisor(state, id);
  ASSERT_GT(supervisor, 0);
  // The supervisor, mpirun and both ranks run on without a coordinator.
  EXPECT_GE(session_processes(supervisor).size(), 4u);
  EXPECT_EQ(processes_running(state + "/jobs/" + id + "/config.yaml").size(), 3u);  // mpirun and 2 ranks

  auto second = coordinator(state);
  const Watched w = watch_job(*second, id, kJobTimeoutS);
  ASSERT_TRUE(w.status.ok()) << w.status.error_message();
  ASSERT_EQ(w.last.state(), v1::JOB_STATE_SUCCEEDED) << w.last.message() << "\n" << w.log;
  EXPECT_EQ(w.states.front(), v1::JOB_STATE_RUNNING);  // the first event: the job as it is
  EXPECT_EQ(w.states.back(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_GT(w.progress_events, 0);
  EXPECT_GE(w.metrics_lines, 12);  // a training record per step, and the evaluations
  EXPECT_NE(w.log.find("done: step 12/12"), std::string::npos) << w.log;
  EXPECT_EQ(w.last.exit_code(), 0);
  EXPECT_EQ(w.last.progress().step(), 12);
  EXPECT_EQ(w.last.progress().total_steps(), 12);
  EXPECT_GT(w.last.progress().tokens_per_s(), 0);
  EXPECT_TRUE(w.last.has_started() && w.last.has_finished());
  EXPECT_EQ(checkpoints(run).back(), "step-00000012");
  EXPECT_EQ(w.last.model_dir(), run + "/model");
  EXPECT_TRUE(fs::exists(run + "/model/model.safetensors"));
  EXPECT_TRUE(session_processes(supervisor).empty());

  // The exported model, served with no step in between: a worker of this coordinator.
  BackgroundProcess worker(stepwise_binary() + " worker --coordinator " + second->address() + " --model " +
                           w.last.model_dir() + " --name sft-job");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  Streamed out;
  auto generation = v1::Generation::NewStub(connect(*second));
  do {
    v1::GenerateRequest r = ids_request({1, 2, 3}, 4);
    r.set_model("sft-job");
    out = generate(*generation, r);
    if (!out.status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (!out.status.ok() && Clock::now() < deadline);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message() << "\n" << worker.stderr_text();
  EXPECT_EQ(out.tokens.size(), 4u);
  EXPECT_EQ(second->terminate(30), 0);
}

TEST(Jobs, CancelEndsEveryRankKeepsTheCheckpointAndTheResubmittedJobResumes) {
  const std::string state = fresh_test_dir("cancel"), run = state + "-run";
  JobCleanup cleanup{state, {}};
  auto s = coordinator(state);
  const v1::JobSpec spec = sft_spec(sft_config(run, 2, 10, 2));
  const JobCall submitted = submit(*s, spec);
  ASSERT_TRUE(submitted.status.ok()) << submitted.status.error_message();
  const std::string id = submitted.job.id();
  cleanup.ids.push_back(id);
  wait_for_job(*s, id, [&](const v1::Job& j) { return j.state() != v1::JOB_STATE_QUEUED && !checkpoints(run).empty(); },
               kJobTimeoutS);
  // Another job on the same run directory would corrupt it: refused while this one is active.
  const JobCall clash = submit(*s, spec);
  EXPECT_EQ(clash.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(clash.status.error_message().find(run), std::string::npos) << clash.status.error_message();

  const pid_t supervisor = job_supervisor(state, id);
  const Cancelled cancelled = cancel_and_wait(*s, id, kCancelWithinS);
  const v1::Job& ended = cancelled.job;
  ASSERT_EQ(ended.state(), v1::JOB_STATE_CANCELLED) << ended.message();
  EXPECT_LT(cancelled.seconds, kCancelWithinS);
  EXPECT_TRUE(session_processes(supervisor).empty());
  EXPECT_TRUE(processes_running(state + "/jobs/" + id + "/config.yaml").empty());
  EXPECT_TRUE(ended.model_dir().empty());

  // The newest checkpoint is whole: exporting it checks every file against the manifest's checksums.
  const std::vector<std::string> kept = checkpoints(run);
  ASSERT_FALSE(kept.empty());
  const ProcessResult exported =
      run_process(stepwise_binary() + " export --checkpoint " + run + " --output " + state + "-export");
  EXPECT_EQ(exported.exit_code, 0) << exported.describe();

  const JobCall again = submit(*s, spec);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  cleanup.ids.push_back(again.job.id());
  const Watched w = watch_job(*s, again.job.id(), kJobTimeoutS);
  ASSERT_EQ(w.last.state(), v1::JOB_STATE_SUCCEEDED) << w.last.message();
  EXPECT_NE(w.log.find("resumed from " + run + "/checkpoints/" + kept.back()), std::string::npos) << w.log;
  EXPECT_EQ(checkpoints(run).back(), "step-00000010");
  EXPECT_EQ(s->terminate(30), 0);
}

TEST(Jobs, BadSpecsAreRefusedAtSubmitAndACrashIsFailedWithItsLog) {
  const std::string state = fresh_test_dir("bad"), run = state + "-run";
  JobCleanup cleanup{state, {}};
  auto s = coordinator(state);
  const std::string good = sft_config(run, 2, 4, 2);
  struct Case {
    std::string config;
    std::vector<std::string> args;
    int ranks;
    std::vector<std::string> expected;  // in the message
  };
  const std::vector<Case> cases = {
      {std::regex_replace(good, std::regex("warmup_steps: 1"), "warmup_steps: 1\n  lrr: 1"), {}, 0,
       {"optimizer.lrr", "config_yaml:"}},
      {std::regex_replace(good, std::regex("lr: 1e-3"), "lr: -1"), {}, 0, {"optimizer.lr", "config_yaml:"}},
      {std::regex_replace(good, std::regex("train: /[^\n]*"), "train: /nonexistent/shards"), {}, 0,
       {"data.train", "config_yaml:", "/nonexistent/shards"}},
      {good, {}, 3, {"ranks 3", "run.tp x run.dp"}},
      {good, {"--resume"}, 0, {"args[0]", "--set"}},
      {good, {"--set", "batch.row_lenght=4"}, 0, {"batch.row_lenght"}},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = sft_spec(c.config);
    spec.set_ranks(c.ranks);
    for (const std::string& a : c.args) spec.add_args(a);
    const JobCall r = submit(*s, spec);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.config;
    for (const std::string& text : c.expected)
      EXPECT_NE(r.status.error_message().find(text), std::string::npos) << r.status.error_message();
  }
  v1::JobSpec other;
  other.set_kind("data_prepare");
  other.add_args("--bogus");
  const JobCall bogus = submit(*s, other);
  EXPECT_EQ(bogus.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bogus.status.error_message().find("--bogus"), std::string::npos) << bogus.status.error_message();
  other.set_kind("pretrain");
  EXPECT_EQ(submit(*s, other).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Nothing refused was stored.
  EXPECT_FALSE(get_job(*s, "1").status.ok());

  // Shards that are not token shards: the job starts and its ranks fail.
  const std::string not_shards = state + "-not-shards";
  fs::create_directories(not_shards);
  const JobCall crash = submit(*s, sft_spec(std::regex_replace(good, std::regex("train: /[^\n]*"),
                                                               "train: " + not_shards)));
  ASSERT_TRUE(crash.status.ok()) << crash.status.error_message();
  cleanup.ids.push_back(crash.job.id());
  const Watched w = watch_job(*s, crash.job.id(), kJobTimeoutS);
  ASSERT_EQ(w.last.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(w.last.exit_code(), 0);
  EXPECT_NE(w.last.message().find("step 1 (stepwise train) exited with status"), std::string::npos)
      << w.last.message();
  EXPECT_NE(w.last.message().find(not_shards), std::string::npos) << w.last.message();  // the rank's error line
  EXPECT_EQ(s->terminate(30), 0);
}

// Kinds other than sft run their command with the spec's args: a 2-rank checkpoint conversion (stepwise convert
// under mpirun) ends SUCCEEDED and its output verifies.
TEST(Jobs, ConvertJobRunsOnTwoRanks) {
  const std::string state = fresh_test_dir("convert"), out = state + "-native";
  JobCleanup cleanup{state, {}};
  auto s = coordinator(state);
  v1::JobSpec spec;
  spec.set_kind("convert");
  spec.set_ranks(2);
  const std::string fixture = std::string(STEPWISE_ROOT_DIR) + "/tests/data/fixtures/qwen3-tiny-a";
  for (const std::string& a :
       std::vector<std::string>{"--no-progress", "--input", fixture, "--output", out, "--format", "native", "--tp", "2"})
    spec.add_args(a);
  const JobCall r = submit(*s, spec);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  cleanup.ids.push_back(r.job.id());
  const Watched w = watch_job(*s, r.job.id(), kJobTimeoutS);
  ASSERT_EQ(w.last.state(), v1::JOB_STATE_SUCCEEDED) << w.last.message();
  const ProcessResult verify = run_process(stepwise_binary() + " convert --verify " + out);
  EXPECT_EQ(verify.exit_code, 0) << verify.describe();
  EXPECT_NE(verify.out.find("4 files match"), std::string::npos) << verify.out;
  EXPECT_EQ(s->terminate(30), 0);
}

TEST(Jobs, AJobWhoseProcessesVanishedWhileNoCoordinatorRanIsFailed) {
  const std::string state = fresh_test_dir("vanished"), run = state + "-run";
  JobCleanup cleanup{state, {}};
  auto first = coordinator(state);
  const JobCall submitted = submit(*first, sft_spec(sft_config(run, 2, 40, 40)));
  ASSERT_TRUE(submitted.status.ok()) << submitted.status.error_message();
  cleanup.ids.push_back(submitted.job.id());
  wait_for_job(
      *first, submitted.job.id(), [](const v1::Job& j) { return running_at_step(j, 1); }, kJobTimeoutS);
  first->signal_group(SIGKILL);
  first->wait(10);
  first.reset();
  kill_job_processes(state, submitted.job.id());  // supervisor and ranks: as a host restart would
  auto second = coordinator(state);
  const v1::Job j = wait_for_job(*second, submitted.job.id(),
                                 [](const v1::Job& j) { return j.state() != v1::JOB_STATE_RUNNING; }, 30);
  EXPECT_EQ(j.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(j.message().find("vanished (while the coordinator was down)"), std::string::npos) << j.message();
  EXPECT_EQ(second->terminate(30), 0);
}

}  // namespace
}  // namespace stepwise::test
