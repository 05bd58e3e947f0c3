// `stepwise eval run` and `stepwise distill` end to end, as users run them: on a model folder through the serving
// engine, and against `stepwise serve` over gRPC (a small random model with Qwen3's vocabulary and the real
// tokenizer, so the outputs are gibberish: these tests check the report's structure, that both paths give the same
// greedy completions, resume after an interruption, and distill's bookkeeping; the grading and filtering logic is
// tested with scripted answers in tests/eval).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/process.h"
#include "common/random_model.h"
#include "common/test_dir.h"
#include "server_process.h"

namespace stepwise::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Three problems in the user-file format (one GSM8K-style answer).
std::string problems_file(const std::string& dir) {
  const std::string path = dir + "/problems.jsonl";
  std::ofstream(path) << R"({"problem": "What is 2+3?", "answer": "5", "id": "a"})"
                         "\n"
                      << R"({"question": "Half of 9?", "answer": "9/2 = 4.5\n#### 4.5"})"
                         "\n"
                      << R"({"problem": "Simplify \\frac{6}{8}.", "answer": "\\frac34"})"
                         "\n";
  return path;
}

std::vector<json> lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

json last_line_json(const ProcessResult& r) {
  const size_t end = r.out.find_last_not_of('\n');
  const size_t begin = r.out.rfind('\n', end);
  return json::parse(r.out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1));
}

const std::string kSmall = " --max-tokens 6 --no-progress --accumulation float64";

ProcessResult eval_run(const std::string& source, const std::string& dataset, const std::string& out,
                       const std::string& extra = "") {
  return run_process(stepwise_binary() + " eval run " + source + " --dataset " + dataset + " --out " + out + kSmall +
                     " " + extra);
}

TEST(EvalServe, ModelAndServerGiveTheSameGreedyItemsAndRunsResume) {
  const std::string dir = fresh_test_dir("run");
  const std::string data = problems_file(dir);
  const std::string model = "--model " + random_qwen3_vocab_model_dir();
  const ProcessResult local = eval_run(model, data, dir + "/local", "--samples 3 --temperature 0.9");
  ASSERT_EQ(local.exit_code, 0) << local.describe();
  const json report = last_line_json(local);
  ASSERT_EQ(report["results"].size(), 1u);
  const json& row = report["results"][0];
  EXPECT_EQ(row["total"], 3);
  for (const char* key : {"correct", "accuracy", "extracted", "mean_tokens", "majority_accuracy", "pass_at_k",
                          "best_of_k_logprob_accuracy", "majority_ties"})
    EXPECT_TRUE(row.contains(key)) << key;
  EXPECT_NE(local.out.find("majority@3"), std::string::npos) << local.out;
  EXPECT_EQ(json::parse(std::ifstream(dir + "/local/report.json")), report);
  std::vector<json> items = lines(dir + "/local/items.jsonl");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]["id"], "a");
  EXPECT_EQ(items[1]["answer"], "4.5");
  EXPECT_EQ(items[0]["samples"].size(), 3u);
  EXPECT_LE(items[0]["greedy"]["tokens"].get<int>(), 6);

  // Interrupted after two items: the last line lost, the one before cut off mid-write.
  {
    std::ofstream cut(dir + "/local/items.jsonl", std::ios::trunc);
    cut << items[0].dump() << "\n" << items[1].dump().substr(0, 20);
  }
  const ProcessResult resumed = eval_run(model, data, dir + "/local", "--samples 3 --temperature 0.9");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  EXPECT_NE(resumed.err.find("resuming"), std::string::npos) << resumed.err;
  const std::vector<json> again = lines(dir + "/local/items.jsonl");
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(again[1], items[1]);  // asked again: the same greedy text and the same seeded samples
  EXPECT_EQ(again[2], items[2]);
  EXPECT_EQ(last_line_json(resumed), report);
  // Other settings on the same folder are refused, naming the setting.
  const ProcessResult other = eval_run(model, data, dir + "/local", "--samples 2");
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("samples"), std::string::npos) << other.err;

  ServerProcess server("--model " + random_qwen3_vocab_model_dir());
  ASSERT_NE(server.port(), 0);
  const ProcessResult remote =
      eval_run("--server " + server.address(), data, dir + "/remote", "--thinking-budgets 0,3");
  ASSERT_EQ(remote.exit_code, 0) << remote.describe();
  const json remote_report = last_line_json(remote);
  ASSERT_EQ(remote_report["results"].size(), 2u);
  EXPECT_EQ(remote_report["results"][0]["thinking_budget"], 0);
  EXPECT_EQ(remote_report["results"][1]["thinking_budget"], 3);
  EXPECT_TRUE(fs::exists(dir + "/remote/compute_curve.svg"));
  // The same model greedily through the engine here: the same completions at the same budget.
  const ProcessResult here = eval_run(model, data, dir + "/here", "--thinking-budgets 3");
  ASSERT_EQ(here.exit_code, 0) << here.describe();
  const std::vector<json> remote_items = lines(dir + "/remote/items.jsonl"),
                          here_items = lines(dir + "/here/items.jsonl");
  ASSERT_EQ(remote_items.size(), 6u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(remote_items[3 + i]["greedy"], here_items[i]["greedy"]) << i;
  // With thinking off the think block is empty.
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(remote_items[i]["greedy"]["reasoning"], "") << i;
}

TEST(EvalServe, DistillFromAModelAndFromAServerResumes) {
  const std::string dir = fresh_test_dir("distill");
  const std::string data = problems_file(dir);
  ServerProcess server("--model " + random_qwen3_vocab_model_dir());
  ASSERT_NE(server.port(), 0);
  for (const std::string& teacher : {random_qwen3_vocab_model_dir(), server.address()}) {
    const std::string out = dir + "/" + (teacher == server.address() ? "remote" : "local") + "/traces.jsonl";
    const std::string command = stepwise_binary() + " distill --teacher " + teacher + " --dataset " + data +
                                " --samples 2 --out " + out + kSmall;
    const ProcessResult first = run_process(command);
    ASSERT_EQ(first.exit_code, 0) << first.describe();
    const json s = last_line_json(first);
    EXPECT_EQ(s["problems"], 3);
    EXPECT_EQ(s["generated"], 6);
    EXPECT_EQ(s["kept"].get<int>() + s["duplicates"].get<int>() + s["unfinished"].get<int>() <= 6, true);
    EXPECT_EQ(lines(out + ".progress.jsonl").size(), 3u);
    const ProcessResult second = run_process(command);
    ASSERT_EQ(second.exit_code, 0) << second.describe();
    EXPECT_EQ(last_line_json(second)["already_done"], 3);
    EXPECT_EQ(last_line_json(second)["generated"], 0);
  }
}

TEST(EvalServe, ErrorsNameWhatIsWrong) {
  const std::string dir = fresh_test_dir("errors");
  const ProcessResult neither =
      run_process(stepwise_binary() + " eval run --dataset " + problems_file(dir) + " --out " + dir + "/o");
  EXPECT_NE(neither.exit_code, 0);
  EXPECT_NE(neither.err.find("--model DIR"), std::string::npos) << neither.err;
  std::ofstream(dir + "/bad.jsonl") << R"({"problem": "x", "answer": "1"})"
                                       "\n"
                                    << R"({"problem": "y"})"
                                       "\n";
  const ProcessResult bad = eval_run("--model " + random_qwen3_vocab_model_dir(), dir + "/bad.jsonl", dir + "/o");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("bad.jsonl:2: field 'answer'"), std::string::npos) << bad.err;
  const ProcessResult missing =
      eval_run("--model " + random_qwen3_vocab_model_dir(), "math500", dir + "/o", "--data-dir " + dir + "/nowhere");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("--data-dir"), std::string::npos) << missing.err;
  const ProcessResult teacher = run_process(stepwise_binary() + " distill --teacher " + dir + "/no-model --dataset " +
                                            problems_file(dir) + " --out " + dir + "/t.jsonl");
  EXPECT_NE(teacher.exit_code, 0);
  EXPECT_NE(teacher.err.find("neither a model folder"), std::string::npos) << teacher.err;
  EXPECT_FALSE(fs::exists(dir + "/t.jsonl"));
}

}  // namespace
}  // namespace stepwise::test
