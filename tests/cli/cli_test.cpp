// The `stepwise score` and `stepwise generate` commands run as a user runs them: output format and values
// against the fixture's float64 references, and one-line errors with a non-zero exit for bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../model/fixture.h"

namespace stepwise::testing {
namespace {

struct CommandResult {
  int status;
  std::string out;
};

// stdout and stderr together, or stderr alone.
CommandResult run(const std::string& args, bool stderr_only = false) {
  const std::string cmd =
      std::string(STEPWISE_BUILD_DIR) + "/bin/stepwise " + args + (stderr_only ? " 2>&1 >/dev/null" : " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const std::string kModel = std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/qwen3-tiny-b";

TEST(Cli, ScoreMatchesReferenceLogSoftmax) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  std::string lines;
  for (int64_t r = 0; r < fx.rows; ++r) lines += nlohmann::json(fx.row_tokens(r)).dump() + "\n";
  const CommandResult res = run("score --model " + kModel + " --tokens " + write_temp("score.jsonl", lines));
  ASSERT_EQ(res.status, 0) << res.out;
  const std::vector<double> logits = fx.ref_f64("logits");
  const int64_t vocab = fx.config.vocab_size;
  std::istringstream in(res.out);
  std::string line;
  for (int64_t r = 0; r < fx.rows; ++r) {
    ASSERT_TRUE(std::getline(in, line));
    const auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j["logprobs"].size(), static_cast<size_t>(fx.cols - 1));
    ASSERT_EQ(j["argmax"].size(), static_cast<size_t>(fx.cols - 1));
    for (int64_t t = 0; t + 1 < fx.cols; ++t) {
      const double* row = logits.data() + (r * fx.cols + t) * vocab;
      double mx = row[0];
      int64_t best = 0;
      for (int64_t i = 1; i < vocab; ++i)
        if (row[i] > mx) mx = row[i], best = i;
      double sum = 0;
      for (int64_t i = 0; i < vocab; ++i) sum += std::exp(row[i] - mx);
      const double ref = row[fx.input_ids[r * fx.cols + t + 1]] - mx - std::log(sum);
      EXPECT_NEAR(j["logprobs"][t].get<double>(), ref, 1e-4) << "row " << r << " position " << t;
      EXPECT_EQ(j["argmax"][t].get<int64_t>(), best) << "row " << r << " position " << t;
    }
  }
}

TEST(Cli, GenerateGreedyMatchesReference) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  const std::vector<int64_t> prompt = fx.ref.read_i64("greedy_prompt"), ref = fx.ref.read_i64("greedy_tokens");
  std::string ids;
  for (int64_t t : prompt) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  const CommandResult res = run("generate --model " + kModel + " --prompt-ids " + ids + " --max-new-tokens " +
                      std::to_string(ref.size()));
  ASSERT_EQ(res.status, 0) << res.out;
  const auto out = nlohmann::json::parse(res.out);
  ASSERT_EQ(out.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(out[i].get<int64_t>(), ref[i]) << "step " << i;
}

TEST(Cli, SamplingIsSeededAndTopKOneIsGreedy) {
  const std::string base = "generate --model " + kModel + " --prompt-ids 3,4,5 --max-new-tokens 12 ";
  const CommandResult a = run(base + "--temperature 1.5 --seed 11"), b = run(base + "--temperature 1.5 --seed 11");
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
  bool any_differs = false;
  for (int seed : {12, 13, 14}) any_differs |= run(base + "--temperature 1.5 --seed " + std::to_string(seed)).out != a.out;
  EXPECT_TRUE(any_differs) << "four seeds gave the same 12 sampled tokens";
  EXPECT_EQ(run(base + "--temperature 1.5 --top-k 1 --seed 3").out, run(base).out);
}

void expect_error(const std::string& args, const std::string& needle) {
  const CommandResult res = run(args, /*stderr_only=*/true);
  EXPECT_EQ(res.status, 1) << args << "\n" << res.out;
  EXPECT_NE(res.out.find(needle), std::string::npos) << "expected '" << needle << "' in: " << res.out;
  EXPECT_EQ(std::count(res.out.begin(), res.out.end(), '\n'), 1) << "not one line: " << res.out;
}

TEST(Cli, BadInputGivesOneLineErrors) {
  const std::string tokens = write_temp("ok.jsonl", "[1, 2, 3]\n");
  expect_error("score --tokens " + tokens, "--model");
  expect_error("score --model /nonexistent --tokens " + tokens, "/nonexistent");
  expect_error("score --model " + kModel + " --tokens /no/such/file", "/no/such/file");
  expect_error("score --model " + kModel + " --tokens " + write_temp("bad.jsonl", "[1, 2]\n{\"x\": 1}\n"),
               "bad.jsonl:2");
  expect_error("score --model " + kModel + " --tokens " + write_temp("big.jsonl", "[1, 99999]\n"), "99999");
  expect_error("score --model " + kModel + " --tokens " + tokens + " --bogus 1", "--bogus");
  expect_error("generate --model " + kModel + " --prompt-ids 1,x,3", "'x'");
  expect_error("generate --model " + kModel + " --prompt-ids 1,2 --temperature -1", "temperature");
  expect_error("generate --model " + kModel + " --prompt-ids 1,2 --top-p 0", "top_p");
  expect_error("generate --model " + kModel + " --prompt-ids 1,2 --max-new-tokens 1000", "max_position_embeddings");
}

}  // namespace
}  // namespace stepwise::testing
