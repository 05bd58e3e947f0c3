// Multi-rank jobs launched as a user launches them (mpirun): `stepwise score` and `stepwise generate` with
// --tp 2 print what the single-process run prints (once, from rank 0); a rank that throws, a rank that stops
// calling collectives, and a model that cannot be split all end the whole job with a non-zero status and a clear
// message within seconds, never a hang; `stepwise bench scaling` checks its measured bytes against the analytic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../model/fixture.h"
#include "common/process.h"

namespace stepwise::testing {
namespace {

using test::ProcessResult;

// A hung job fails its test well before ctest's limit.
ProcessResult run(const std::string& cmd) { return test::run_process(cmd, {"", 180}); }

const std::string kStepwise = test::stepwise_binary();
std::string mpirun(int ranks, const std::string& env = "") {
  return std::string(STEPWISE_MPIRUN) + " -np " + std::to_string(ranks) + " -x OMP_NUM_THREADS=1 " + env + " ";
}
std::string model_dir(const std::string& name) { return std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/" + name; }

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && (line[0] == '{' || line[0] == '[')) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Launch, ScoreWithTp2PrintsTheSingleProcessResult) {
  const Fixture fx = Fixture::load("qwen3-tiny-a");
  const std::string tokens = ::testing::TempDir() + "/launch-score.jsonl";
  {
    std::ofstream f(tokens);
    for (int64_t r = 0; r < fx.rows; ++r) f << nlohmann::json(fx.row_tokens(r)).dump() << "\n";
  }
  const std::string args = " score --model " + fx.dir + " --tokens " + tokens;
  const ProcessResult single = run(kStepwise + args), split = run(mpirun(2) + kStepwise + args + " --tp 2");
  ASSERT_EQ(single.exit_code, 0) << single.describe();
  ASSERT_EQ(split.exit_code, 0) << split.describe();
  const std::vector<nlohmann::json> a = json_lines(single.out), b = json_lines(split.out);
  ASSERT_EQ(a.size(), static_cast<size_t>(fx.rows));
  ASSERT_EQ(b.size(), a.size()) << "only rank 0 prints, once per line:\n" << split.out;
  double worst = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r]["argmax"], b[r]["argmax"]) << "row " << r;
    for (size_t t = 0; t < a[r]["logprobs"].size(); ++t) {
      const double x = a[r]["logprobs"][t], y = b[r]["logprobs"][t];
      worst = std::max(worst, std::fabs(x - y) / std::max(1.0, std::fabs(x)));
    }
  }
  std::printf("score --tp 2 vs single process: worst logprob error %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
}

TEST(Launch, GenerateWithTp2PrintsTheSingleProcessTokens) {
  const std::string args = " generate --model " + model_dir("qwen3-tiny-a") +
                           " --prompt-ids 3,14,15,92,65,35 "
                           "--max-new-tokens 12 --temperature 0.8 --top-k 50 --seed 7";
  const ProcessResult single = run(kStepwise + args), split = run(mpirun(2) + kStepwise + args + " --tp 2");
  ASSERT_EQ(single.exit_code, 0) << single.describe();
  ASSERT_EQ(split.exit_code, 0) << split.describe();
  EXPECT_EQ(split.out, single.out);  // one line, from rank 0
}

void expect_fast_failure(const ProcessResult& job, const std::vector<std::string>& message_parts) {
  EXPECT_NE(job.exit_code, 0) << job.describe();
  EXPECT_LT(job.seconds, 30.0) << "the job should end within seconds, not hang:\n" << job.describe();
  for (const std::string& part : message_parts)
    EXPECT_NE(job.output().find(part), std::string::npos) << part << "\n" << job.describe();
}

TEST(Launch, KvHeadsThatTpCannotSplitEndTheJobWithBothNumbers) {
  expect_fast_failure(
      run(mpirun(2) + kStepwise + " score --tp 2 --tokens /dev/null --model " + model_dir("qwen3-tiny-b")),
      {"num_key_value_heads (3)", "tensor-parallel size (2)"});
}

TEST(Launch, WorldSizeThatIsNotTpIsAnError) {
  expect_fast_failure(
      run(mpirun(2) + kStepwise + " generate --tp 4 --prompt-ids 1 --model " + model_dir("qwen3-tiny-a")),
      {"world size 2 != tp 4 x dp 1"});
}

TEST(Launch, OneRankThrowingEndsEveryRank) {
  expect_fast_failure(run(mpirun(2) + STEPWISE_FAILURE_PROBE + " throw"),
                      {"rank 1 of 2: error:", "fails on purpose", "aborting every rank"});
}

TEST(Launch, RankThatStopsCallingCollectivesTripsTheWatchdog) {
  const ProcessResult job = run(mpirun(2, "-x STEPWISE_COLLECTIVE_TIMEOUT_S=2") + STEPWISE_FAILURE_PROBE + " stall");
  expect_fast_failure(job, {"rank 0 of group world", "collective all_reduce", "timeout of 2 s"});
}

TEST(Launch, RankThatNeverCreatesTheGridTripsTheWatchdog) {
  const ProcessResult job =
      run(mpirun(2, "-x STEPWISE_COLLECTIVE_TIMEOUT_S=2") + STEPWISE_FAILURE_PROBE + " stall-setup");
  expect_fast_failure(job, {"world rank 0", "set-up step 'finding the node-local rank", "timeout of 2 s"});
}

// The benchmark re-launches itself under mpirun per layout and exits non-zero when a measured byte count differs
// from the analytic one.
TEST(Launch, ScalingBenchBytesEqualTheAnalyticCounts) {
  for (const char* dp_mode : {"", " --zero1"}) {
    const ProcessResult job = run(kStepwise + " bench scaling --layouts 1x1,2x1,1x2,2x2 --batch 4 --seq 32 --steps 1 " +
                                  "--warmup 0 --nodes 1,4 --mpirun '" + STEPWISE_MPIRUN + "'" + dp_mode);
    ASSERT_EQ(job.exit_code, 0) << job.describe();
    EXPECT_NE(job.out.find("bytes check: ok"), std::string::npos) << job.describe();
    const nlohmann::json result = json_lines(job.out).back();
    ASSERT_EQ(result["layouts"].size(), 4u);
    for (const nlohmann::json& layout : result["layouts"]) {
      EXPECT_EQ(layout["tp_bytes"] > 0, layout["tp"] > 1) << layout.dump();
      EXPECT_EQ(layout["dp_bytes"] > 0, layout["dp"] > 1) << layout.dump();
    }
  }
}

}  // namespace
}  // namespace stepwise::testing
