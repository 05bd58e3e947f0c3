// Jobs on a coordinator with the slurm launcher, against the one-node Slurm that scripts/slurm-local.sh starts for
// the tests (ctest fixture slurm_local; SLURM_CONF names it): the 2-rank SFT job of jobs_test.cpp goes to sbatch,
// outlives a coordinator killed with SIGKILL (the next one finds it by its Slurm job id) and ends SUCCEEDED with its
// checkpoint and exported model; a cancelled job ends CANCELLED within seconds (scancel) with no rank left and its
// checkpoint whole.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>

#include "common/process.h"
#include "job_calls.h"
#include "server_process.h"

namespace stepwise::test {
namespace {

namespace fs = std::filesystem;
constexpr double kJobTimeoutS = 600;   // queued behind another test's job, then ~20 s of work
constexpr double kCancelWithinS = 60;  // scancel: SIGTERM, Slurm's KillWait (30 s by default), then SIGKILL

std::unique_ptr<ServerProcess> coordinator(const std::string& state_dir) {
  auto s = std::make_unique<ServerProcess>("--state-dir " + state_dir);
  EXPECT_NE(s->port(), 0) << s->stderr_text();
  return s;
}

class SlurmJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("SLURM_CONF"))
      GTEST_FAIL() << "SLURM_CONF is not set: start the test cluster with scripts/slurm-local.sh start and export "
                      "SLURM_CONF as it says (ctest does both in the test slurm_local_start)";
  }
};

TEST_F(SlurmJobs, SftJobOutlivesACoordinatorKilledWithSigkill) {
  const std::string state = fresh_test_dir("slurm-restart"), run = state + "-run";
  auto first = coordinator(state);
  const JobCall submitted = submit(*first, sft_spec(sft_config(run, 2, 12, 4), "slurm"));
  ASSERT_TRUE(submitted.status.ok()) << submitted.status.error_message();
  const std::string id = submitted.job.id();
  const v1::Job running = wait_for_job(
      *first, id, [](const v1::Job& j) { return j.state() == v1::JOB_STATE_RUNNING && j.progress().step() >= 2; },
      kJobTimeoutS);
  ASSERT_FALSE(running.slurm_job_id().empty());
  ASSERT_TRUE(fs::exists(state + "/jobs/" + id + "/job.sbatch"));
  first->signal_group(SIGKILL);
  first->wait(10);
  first.reset();

  auto second = coordinator(state);
  const Watched w = watch_job(*second, id, kJobTimeoutS);
  ASSERT_TRUE(w.status.ok()) << w.status.error_message();
  ASSERT_EQ(w.last.state(), v1::JOB_STATE_SUCCEEDED) << w.last.message() << "\n" << w.log;
  EXPECT_EQ(w.last.slurm_job_id(), running.slurm_job_id());
  EXPECT_GT(w.progress_events + w.metrics_lines, 0);
  EXPECT_NE(w.log.find("[job.sbatch] step 1"), std::string::npos) << w.log;
  EXPECT_NE(w.log.find("done: step 12/12"), std::string::npos) << w.log;
  EXPECT_EQ(w.last.progress().step(), 12);
  EXPECT_EQ(checkpoints(run).back(), "step-00000012");
  EXPECT_TRUE(fs::exists(w.last.model_dir() + "/model.safetensors"));
  EXPECT_EQ(second->terminate(30), 0);
}

TEST_F(SlurmJobs, CancelEndsTheJobWithItsCheckpointWhole) {
  const std::string state = fresh_test_dir("slurm-cancel"), run = state + "-run";
  auto s = coordinator(state);
  const JobCall submitted = submit(*s, sft_spec(sft_config(run, 2, 200, 2), "slurm"));
  ASSERT_TRUE(submitted.status.ok()) << submitted.status.error_message();
  const std::string id = submitted.job.id();
  wait_for_job(*s, id, [&](const v1::Job& j) { return j.state() == v1::JOB_STATE_RUNNING && !checkpoints(run).empty(); },
               kJobTimeoutS);
  const Cancelled cancelled = cancel_and_wait(*s, id, kCancelWithinS);
  ASSERT_EQ(cancelled.job.state(), v1::JOB_STATE_CANCELLED) << cancelled.job.message();
  EXPECT_TRUE(processes_running(state + "/jobs/" + id + "/config.yaml").empty());
  const ProcessResult exported =
      run_process(stepwise_binary() + " export --checkpoint " + run + " --output " + state + "-export");
  EXPECT_EQ(exported.exit_code, 0) << exported.describe();
  EXPECT_EQ(s->terminate(30), 0);
}

}  // namespace
}  // namespace stepwise::test
