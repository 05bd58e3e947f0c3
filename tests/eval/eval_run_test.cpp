// The benchmark runner and distillation over a scripted CompletionSource (answers chosen by the test): the report's
// greedy / majority / pass@K / best-of-K counts against counts the test works out itself, resume after an
// interruption (only missing items asked again, a torn last line dropped), settings pinned, majority vote over
// equivalence classes with its tie rule, and distilled traces filtered, deduplicated and readable by data prepare.
#include "eval/eval_run.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/status.h"
#include "eval/answer_vote.h"
#include "eval/distill.h"
#include "eval/jsonl_log.h"
#include "train/sft_records.h"

namespace stepwise::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "stepwise_eval_" + std::to_string(::getpid()) + "_" + name;
  fs::remove_all(dir);
  return dir;
}

// Answers by rule: `answer(request, sample)` is boxed after a closed think block; calls are counted.
class ScriptedSource : public CompletionSource {
 public:
  using Rule = std::function<std::string(const CompletionRequest&, int64_t sample)>;
  explicit ScriptedSource(Rule rule) : rule_(std::move(rule)) {}
  std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) override {
    if (fail_after_calls_ >= 0 && calls_ >= fail_after_calls_) invalid_argument("scripted failure");
    ++calls_;
    std::vector<std::vector<Completion>> out;
    for (const CompletionRequest& r : requests) {
      asked_.push_back(r);
      std::vector<Completion> samples;
      for (int64_t i = 0; i < r.n; ++i) {
        Completion c;
        c.reasoning = "thinking about it (" + std::to_string(i) + ")";
        const std::string a = rule_(r, i);
        c.text = a.empty() ? "" : "So \\boxed{" + a + "}";
        c.tokens = 10 + i;
        c.mean_logprob = -0.1 * static_cast<double>(i + 1);  // sample 0 is the most confident
        c.finish = "stop";
        samples.push_back(c);
      }
      out.push_back(samples);
    }
    return out;
  }
  std::string describe() const override { return "scripted"; }
  const std::vector<CompletionRequest>& asked() const { return asked_; }
  int64_t fail_after_calls_ = -1;

 private:
  Rule rule_;
  std::vector<CompletionRequest> asked_;
  int64_t calls_ = 0;
};

std::vector<ReasoningProblem> problems(int n) {
  std::vector<ReasoningProblem> out;
  for (int i = 0; i < n; ++i)
    out.push_back({"p" + std::to_string(i), "What is " + std::to_string(i) + "+1?", std::to_string(i + 1)});
  return out;
}

// The problem's number back from the prompt ("What is 7+1?" -> 7).
int problem_number(const CompletionRequest& r) {
  const size_t at = r.user_message.find("What is ");
  return std::stoi(r.user_message.substr(at + 8));
}

TEST(AnswerVote, VotesOverEquivalenceClassesNotStrings) {
  // "\frac12", "0.5" and "1/2" are one answer: three votes against two for 3.
  const AnswerVote v = majority_vote({std::string("3"), std::string("\\frac12"), std::string("0.5"), std::nullopt,
                                      std::string("3"), std::string("1/2")});
  EXPECT_EQ(v.winner, 1);
  EXPECT_EQ(v.votes, 3);
  EXPECT_FALSE(v.tie);
  EXPECT_EQ(v.class_of, (std::vector<int64_t>{0, 1, 1, -1, 0, 1}));
}

TEST(AnswerVote, TieGoesToTheClassSampledFirst) {
  const AnswerVote v = majority_vote({std::string("7"), std::string("8"), std::string("8.0"), std::string("7")});
  EXPECT_EQ(v.winner, 0);
  EXPECT_TRUE(v.tie);
  EXPECT_EQ(majority_vote({std::nullopt, std::nullopt}).winner, -1);
  EXPECT_EQ(best_by_mean_logprob({-0.5, -0.2, -0.2, -0.9}), 1);
}

TEST(JsonlLog, DropsATornLastLineAndRefusesDamageBeforeIt) {
  const std::string dir = fresh_dir("log");
  fs::create_directories(dir);
  const std::string path = dir + "/items.jsonl";
  std::ofstream(path) << "{\"a\":1}\n{\"a\":2}\n{\"a\":";
  JsonlLog log(path);
  EXPECT_TRUE(log.dropped_incomplete_line());
  ASSERT_EQ(log.records().size(), 2u);
  log.append({json{{"a", 3}}});
  JsonlLog again(path);
  EXPECT_FALSE(again.dropped_incomplete_line());
  ASSERT_EQ(again.records().size(), 3u);
  EXPECT_EQ(again.records()[2]["a"], 3);
  std::ofstream(path) << "{\"a\":1}\nnot json\n{\"a\":2}\n";
  try {
    JsonlLog damaged(path);
    FAIL() << "a damaged line was accepted";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find("items.jsonl:2"), std::string::npos) << e.what();
  }
}

// Problem i: greedy right when i is even; samples: sample k answers i+1 when k < i % 4, else 0 (wrong), so the
// counts below follow from the rule alone.
ScriptedSource::Rule mixed_rule() {
  return [](const CompletionRequest& r, int64_t k) {
    const int i = problem_number(r);
    if (r.temperature == 0) return i % 2 == 0 ? std::to_string(i + 1) : std::string("-1");
    return k < i % 4 ? std::to_string(i + 1) : std::string("0");
  };
}

TEST(EvalRun, ReportCountsGreedyMajorityPassAndBestOfK) {
  const std::string out = fresh_dir("report");
  ScriptedSource source(mixed_rule());
  EvalRunOptions o;
  o.dataset = "scripted";
  o.samples = 4;
  o.batch = 3;
  o.progress = false;
  const auto ps = problems(10);
  const EvalReport report = run_eval(source, ps, o, out);
  ASSERT_EQ(report.budgets.size(), 1u);
  const EvalSummary& s = report.budgets[0];
  int greedy = 0, majority = 0, pass = 0, best = 0, ties = 0;
  for (int i = 0; i < 10; ++i) {
    const int right = i % 4;  // samples that are right, out of 4; the others all say 0
    greedy += i % 2 == 0;
    majority += right > 4 - right || (right == 2);  // at 2-2 the first sample (right) wins the tie
    ties += right == 2;
    pass += right > 0;
    best += right > 0;  // sample 0 has the best mean logprob and is right whenever any is
  }
  EXPECT_EQ(s.problems, 10);
  EXPECT_EQ(s.greedy_correct, greedy);
  EXPECT_EQ(s.extracted, 10);
  EXPECT_EQ(s.majority_correct, majority);
  EXPECT_EQ(s.ties, ties);
  EXPECT_EQ(s.pass_at_k, pass);
  EXPECT_EQ(s.best_of_k_correct, best);
  EXPECT_DOUBLE_EQ(s.mean_tokens, 10);
  EXPECT_DOUBLE_EQ(s.mean_sample_tokens, 11.5);
  // Samples of different problems draw from different seeds.
  EXPECT_NE(source.asked()[1].seed, source.asked()[3].seed);
  const json file = json::parse(std::ifstream(out + "/report.json"));
  EXPECT_EQ(file["results"][0]["correct"], greedy);
  EXPECT_EQ(file["results"][0]["pass_at_k"], pass / 10.0);
  EXPECT_NE(report.table().find("majority@4"), std::string::npos);
}

TEST(EvalRun, ResumesWhereAnInterruptedRunStopped) {
  const std::string out = fresh_dir("resume");
  EvalRunOptions o;
  o.dataset = "scripted";
  o.batch = 2;
  o.progress = false;
  const auto ps = problems(7);
  ScriptedSource first(mixed_rule());
  first.fail_after_calls_ = 2;  // two batches (4 problems) graded, then the source fails
  EXPECT_THROW(run_eval(first, ps, o, out), StatusError);
  // A write cut off mid-line, as a crash leaves it.
  std::ofstream(out + "/items.jsonl", std::ios::app) << "{\"id\": \"p4\", \"bud";
  ScriptedSource second(mixed_rule());
  const EvalReport report = run_eval(second, ps, o, out);
  ASSERT_EQ(second.asked().size(), 3u);  // p4, p5, p6 only
  EXPECT_EQ(problem_number(second.asked()[0]), 4);
  EXPECT_EQ(report.budgets[0].problems, 7);
  EXPECT_EQ(report.budgets[0].greedy_correct, 4);  // 0, 2, 4, 6
  EXPECT_EQ(JsonlLog(out + "/items.jsonl").records().size(), 7u);
  // Settings are pinned: another max_tokens is refused, naming the key.
  o.max_tokens = 99;
  try {
    run_eval(second, ps, o, out);
    FAIL() << "resumed with other settings";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
  }
}

TEST(EvalRun, ThinkingBudgetsMakeOneCurvePointEach) {
  const std::string out = fresh_dir("budgets");
  // Right only with a budget of at least 64 tokens; tokens grow with the budget.
  ScriptedSource source([](const CompletionRequest& r, int64_t) {
    return r.thinking_budget >= 64 ? std::to_string(problem_number(r) + 1) : std::string("0");
  });
  EvalRunOptions o;
  o.dataset = "scripted";
  o.thinking_budgets = {0, 64, 256};
  o.progress = false;
  const EvalReport report = run_eval(source, problems(3), o, out);
  ASSERT_EQ(report.budgets.size(), 3u);
  EXPECT_EQ(report.budgets[0].greedy_correct, 0);
  EXPECT_EQ(report.budgets[1].greedy_correct, 3);
  for (const CompletionRequest& r : source.asked()) EXPECT_TRUE(r.thinking_budget == 0 || r.thinking_budget >= 64);
  const std::string svg = compute_curve_svg(report);
  EXPECT_NE(svg.find("budget 256"), std::string::npos);
  EXPECT_TRUE(fs::exists(out + "/compute_curve.svg"));
}

TEST(Distill, KeepsRightTracesOnceAndResumes) {
  const std::string dir = fresh_dir("distill");
  fs::create_directories(dir);
  const std::string path = dir + "/traces.jsonl";
  // Problem i: samples 0 and 1 are right and identical (a duplicate), sample 2 is wrong, sample 3 right but
  // different; problem 3 never finishes its thinking (no answer text).
  ScriptedSource source([](const CompletionRequest& r, int64_t k) {
    const int i = problem_number(r);
    if (i == 3) return std::string();
    if (k == 2) return std::string("0");
    return k == 3 ? "\\frac{" + std::to_string(2 * (i + 1)) + "}{2}" : std::to_string(i + 1);
  });
  DistillOptions o;
  o.samples = 4;
  o.batch = 2;
  o.progress = false;
  const auto ps = problems(4);
  const DistillSummary s = run_distill(source, ps, o, path);
  EXPECT_EQ(s.generated, 16);
  EXPECT_EQ(s.unfinished, 4);
  EXPECT_EQ(s.correct, 9);
  EXPECT_EQ(s.duplicates, 0);  // sample 1's thinking text differs from sample 0's ("(1)")
  EXPECT_EQ(s.kept, 9);
  const JsonlLog traces(path);
  ASSERT_EQ(traces.records().size(), 9u);
  for (const json& t : traces.records()) {
    const SftExample ex = parse_sft_record(t);  // what data prepare reads
    EXPECT_EQ(ex.format, "distill");
    EXPECT_NE(t["message_content"].get<std::string>().find("\\boxed"), std::string::npos);
  }
  // Again, with one more problem: only that one is asked; the others are skipped.
  const auto more = problems(5);
  ScriptedSource again([](const CompletionRequest& r, int64_t) { return std::to_string(problem_number(r) + 1); });
  const DistillSummary s2 = run_distill(again, more, o, path);
  EXPECT_EQ(s2.already_done, 4);
  EXPECT_EQ(s2.problems, 1);
  EXPECT_EQ(again.asked().size(), 1u);
  EXPECT_EQ(s2.traces_in_file, 13);
  // The shortest right trace only.
  o.shortest_only = true;
  ScriptedSource third([](const CompletionRequest& r, int64_t) { return std::to_string(problem_number(r) + 1); });
  const DistillSummary s3 = run_distill(third, problems(6), o, dir + "/shortest.jsonl");
  EXPECT_EQ(s3.kept, 6);
  const JsonlLog shortest(dir + "/shortest.jsonl");
  for (const json& t : shortest.records()) EXPECT_EQ(t["tokens"], 10);
}

TEST(Distill, DropsExactDuplicates) {
  const std::string dir = fresh_dir("dups");
  fs::create_directories(dir);
  class SameTrace : public CompletionSource {
   public:
    std::vector<std::vector<Completion>> complete(const std::vector<CompletionRequest>& requests) override {
      std::vector<std::vector<Completion>> out;
      for (const CompletionRequest& r : requests)
        out.push_back(
            std::vector<Completion>(static_cast<size_t>(r.n), Completion{"same steps", "\\boxed{1}", 5, 0, "stop"}));
      return out;
    }
    std::string describe() const override { return "same"; }
  } source;
  DistillOptions o;
  o.samples = 3;
  o.progress = false;
  const DistillSummary s = run_distill(source, {{"a", "What is 0+1?", "1"}}, o, dir + "/t.jsonl");
  EXPECT_EQ(s.correct, 3);
  EXPECT_EQ(s.duplicates, 2);
  EXPECT_EQ(s.kept, 1);
}

}  // namespace
}  // namespace stepwise::testing
