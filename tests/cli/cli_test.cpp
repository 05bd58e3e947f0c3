// The `stepwise score` and `stepwise generate` commands run as a user runs them: output format and values
// against the fixture's float64 references (greedy decoding, --ignore-eos past an end-of-sequence token, seeded
// sampling with --top-k and --top-p), and one-line errors with a non-zero exit for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "../model/fixture.h"
#include "common/process.h"

namespace stepwise::testing {
namespace {

using test::ProcessResult;

ProcessResult run(const std::string& args) { return test::run_process(test::stepwise_binary() + " " + args); }

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
  const ProcessResult res = run("score --model " + kModel + " --tokens " + write_temp("score.jsonl", lines));
  ASSERT_EQ(res.exit_code, 0) << res.describe();
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

// The fixture's greedy prompt as --prompt-ids, and Hugging Face's greedy continuation of it.
std::string greedy_prompt_ids(const Fixture& fx) {
  std::string ids;
  for (int64_t t : fx.ref.read_i64("greedy_prompt")) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  return ids;
}

std::vector<int64_t> generated(const ProcessResult& res) {
  EXPECT_EQ(res.exit_code, 0) << res.describe();
  return res.exit_code == 0 ? nlohmann::json::parse(res.out).get<std::vector<int64_t>>() : std::vector<int64_t>{};
}

TEST(Cli, GenerateGreedyMatchesReference) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  const std::vector<int64_t> ref = fx.ref.read_i64("greedy_tokens");
  EXPECT_EQ(generated(run("generate --model " + kModel + " --prompt-ids " + greedy_prompt_ids(fx) +
                          " --max-new-tokens " + std::to_string(ref.size()))),
            ref);
}

// The fixture has no eos_token_id; a copy of it whose eos_token_id is the token greedy decoding emits at step k
// (its first occurrence) must stop there, the token included, and with --ignore-eos go on to the reference's end.
TEST(Cli, GenerateStopsAtEosUnlessIgnoreEos) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  const std::vector<int64_t> ref = fx.ref.read_i64("greedy_tokens");
  size_t k = 2;
  while (k < ref.size() && std::find(ref.begin(), ref.begin() + k, ref[k]) != ref.begin() + k) ++k;
  ASSERT_LT(k + 1, ref.size()) << "the reference repeats every token after step 2";
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("eos_model_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const fs::directory_entry& f : fs::directory_iterator(kModel))
    if (f.path().filename() != "config.json") fs::copy_file(f.path(), dir / f.path().filename());  // no links out
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kModel + "/config.json"));
  config["eos_token_id"] = ref[k];
  std::ofstream(dir / "config.json") << config.dump(2);

  const std::string args = "generate --model " + dir.string() + " --prompt-ids " + greedy_prompt_ids(fx) +
                           " --max-new-tokens " + std::to_string(ref.size());
  EXPECT_EQ(generated(run(args)), std::vector<int64_t>(ref.begin(), ref.begin() + k + 1)) << "eos " << ref[k];
  EXPECT_EQ(generated(run(args + " --ignore-eos")), ref) << "eos " << ref[k];
  fs::remove_all(dir);
}

TEST(Cli, SamplingIsSeededAndTopKOneIsGreedy) {
  const std::string base = "generate --model " + kModel + " --prompt-ids 3,4,5 --max-new-tokens 12 ";
  const ProcessResult a = run(base + "--temperature 1.5 --seed 11"), b = run(base + "--temperature 1.5 --seed 11");
  ASSERT_EQ(a.exit_code, 0) << a.describe();
  EXPECT_EQ(a.out, b.out);
  bool any_differs = false;
  for (int seed : {12, 13, 14}) any_differs |= run(base + "--temperature 1.5 --seed " + std::to_string(seed)).out != a.out;
  EXPECT_TRUE(any_differs) << "four seeds gave the same 12 sampled tokens";
  EXPECT_EQ(run(base + "--temperature 1.5 --top-k 1 --seed 3").out, run(base).out);
}

// Nucleus sampling: a tiny --top-p keeps only the most likely token (greedy, Hugging Face's reference); --top-p 1
// keeps them all: reproducible for a seed, and off the greedy path for some seed.
TEST(Cli, TopPTinyIsGreedyAndTopPOneSamples) {
  const Fixture fx = Fixture::load("qwen3-tiny-b");
  const std::vector<int64_t> ref = fx.ref.read_i64("greedy_tokens");
  const std::string base = "generate --model " + kModel + " --prompt-ids " + greedy_prompt_ids(fx) +
                           " --max-new-tokens " + std::to_string(ref.size()) + " --temperature 1 ";
  for (int seed : {1, 2, 3}) EXPECT_EQ(generated(run(base + "--top-p 1e-6 --seed " + std::to_string(seed))), ref);
  const std::vector<int64_t> sampled = generated(run(base + "--top-p 1 --seed 5"));
  EXPECT_EQ(generated(run(base + "--top-p 1 --seed 5")), sampled);
  bool off_greedy = sampled != ref;
  for (int seed : {6, 7, 8}) off_greedy |= generated(run(base + "--top-p 1 --seed " + std::to_string(seed))) != ref;
  EXPECT_TRUE(off_greedy) << "four seeds with --top-p 1 all decoded greedily";
}

void expect_error(const std::string& args, const std::string& needle) {
  const ProcessResult res = run(args);
  EXPECT_EQ(res.exit_code, 1) << args << "\n" << res.describe();
  EXPECT_NE(res.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << res.err;
  EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << "not one line: " << res.err;
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
  expect_error("generate --model " + kModel + " --prompt-ids 1,2 --top-p 0", "--top-p: must be in (0, 1], got 0");
  expect_error("generate --model " + kModel + " --prompt-ids 1,2 --max-new-tokens 1000", "max_position_embeddings");
}

}  // namespace
}  // namespace stepwise::testing
