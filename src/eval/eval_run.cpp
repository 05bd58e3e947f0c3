// run_eval: batches of problems through a CompletionSource, graded and logged per item; the report and its table.
#include "eval/eval_run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "eval/answer.h"
#include "eval/answer_vote.h"
#include "eval/jsonl_log.h"
#include "io/atomic_file.h"
#include "train/progress.h"

namespace stepwise {

namespace {

using json = nlohmann::ordered_json;

json answer_json(const std::optional<std::string>& a) { return a ? json(*a) : json(nullptr); }

// One (problem, budget): the greedy completion and the K samples, graded.
json grade_item(const ReasoningProblem& p, int64_t budget, const Completion& greedy,
                const std::vector<Completion>& samples) {
  const std::optional<std::string> extracted = extract_answer(greedy.text);
  json item = {{"id", p.id},
               {"budget", budget},
               {"answer", p.answer},
               {"greedy",
                {{"extracted", answer_json(extracted)},
                 {"correct", extracted && answers_match(*extracted, p.answer)},
                 {"tokens", greedy.tokens},
                 {"finish", greedy.finish},
                 {"reasoning", greedy.reasoning},
                 {"text", greedy.text}}}};
  if (samples.empty()) return item;
  std::vector<std::optional<std::string>> answers;
  std::vector<double> logprobs;
  json sample_items = json::array();
  bool any_correct = false;
  for (const Completion& c : samples) {
    answers.push_back(extract_answer(c.text));
    const bool correct = answers.back() && answers_match(*answers.back(), p.answer);
    any_correct |= correct;
    logprobs.push_back(c.mean_logprob);
    sample_items.push_back({{"extracted", answer_json(answers.back())},
                            {"correct", correct},
                            {"tokens", c.tokens},
                            {"finish", c.finish},
                            {"mean_logprob", c.mean_logprob}});
  }
  const AnswerVote vote = majority_vote(answers);
  const int64_t best = best_by_mean_logprob(logprobs);
  item["samples"] = sample_items;
  item["majority"] = {{"answer", vote.winner < 0 ? json(nullptr) : json(*answers[static_cast<size_t>(vote.winner)])},
                      {"votes", vote.votes},
                      {"tie", vote.tie},
                      {"correct", vote.winner >= 0 && sample_items[static_cast<size_t>(vote.winner)]["correct"]}};
  item["pass_at_k"] = any_correct;
  item["best_of_k"] = {{"index", best}, {"correct", sample_items[static_cast<size_t>(best)]["correct"]}};
  return item;
}

EvalSummary summarize(int64_t budget, const std::vector<const json*>& items) {
  EvalSummary s;
  s.budget = budget;
  double tokens = 0, sample_tokens = 0, samples = 0;
  for (const json* item : items) {
    const json& g = (*item)["greedy"];
    ++s.problems;
    s.greedy_correct += g["correct"].get<bool>();
    s.extracted += !g["extracted"].is_null();
    tokens += g["tokens"].get<double>();
    if (!item->contains("samples")) continue;
    s.majority_correct += (*item)["majority"]["correct"].get<bool>();
    s.ties += (*item)["majority"]["tie"].get<bool>();
    s.pass_at_k += (*item)["pass_at_k"].get<bool>();
    s.best_of_k_correct += (*item)["best_of_k"]["correct"].get<bool>();
    for (const json& c : (*item)["samples"]) {
      sample_tokens += c["tokens"].get<double>();
      ++samples;
    }
  }
  if (s.problems > 0) s.mean_tokens = tokens / static_cast<double>(s.problems);
  if (samples > 0) s.mean_sample_tokens = sample_tokens / samples;
  return s;
}

double percent(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

EvalReport run_eval(CompletionSource& source, const std::vector<ReasoningProblem>& problems,
                    const EvalRunOptions& options, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  pin_settings(out_dir + "/settings.json",
               {{"source", source.describe()},
                {"dataset", options.dataset},
                {"samples", options.samples},
                {"temperature", options.samples > 1 ? options.temperature : 0.0},
                {"top_p", options.samples > 1 ? options.top_p : 1.0},
                {"seed", options.samples > 1 ? options.seed : 0},
                {"enable_thinking", options.enable_thinking},
                {"max_tokens", options.max_tokens}},
               "resume with the same flags, or choose another --out");
  JsonlLog log(out_dir + "/items.jsonl");
  if (log.dropped_incomplete_line())
    std::fprintf(stderr,
                 "eval: %s/items.jsonl: dropped an incomplete last line (an interrupted run); its problem "
                 "is asked again\n",
                 out_dir.c_str());
  const std::vector<int64_t> budgets =
      options.thinking_budgets.empty() ? std::vector<int64_t>{-1} : options.thinking_budgets;
  std::set<std::pair<std::string, int64_t>> done;
  for (const json& r : log.records()) done.insert({r.value("id", std::string()), r.value("budget", int64_t{-1})});

  struct Todo {
    size_t problem;
    int64_t budget;
  };
  std::vector<Todo> todo;
  for (int64_t budget : budgets)
    for (size_t j = 0; j < problems.size(); ++j)
      if (!done.count({problems[j].id, budget})) todo.push_back({j, budget});
  if (done.size() > 0 && !todo.empty())
    std::fprintf(stderr, "eval: resuming in %s: %zu of %zu items already graded\n", out_dir.c_str(),
                 budgets.size() * problems.size() - todo.size(), budgets.size() * problems.size());

  std::unique_ptr<ProgressBar> bar;
  if (options.progress && !todo.empty()) bar = std::make_unique<ProgressBar>("eval", static_cast<double>(todo.size()));
  int64_t graded = 0, right = 0;
  for (size_t b = 0; b < todo.size(); b += static_cast<size_t>(options.batch)) {
    const size_t e = std::min(todo.size(), b + static_cast<size_t>(options.batch));
    std::vector<CompletionRequest> requests;
    for (size_t t = b; t < e; ++t) {
      CompletionRequest r;
      r.user_message = render_math_prompt(problems[todo[t].problem].problem);
      r.max_tokens = options.max_tokens;
      r.enable_thinking = options.enable_thinking;
      r.thinking_budget = todo[t].budget;
      requests.push_back(r);  // greedy
      if (options.samples > 1) {
        r.n = options.samples;
        r.temperature = options.temperature;
        r.top_p = options.top_p;
        r.seed = options.seed + static_cast<uint64_t>(todo[t].problem) * static_cast<uint64_t>(options.samples);
        r.logprobs = true;
        requests.push_back(r);
      }
    }
    const std::vector<std::vector<Completion>> completions = source.complete(requests);
    std::vector<json> items;
    const size_t per = options.samples > 1 ? 2 : 1;
    for (size_t t = b; t < e; ++t) {
      const size_t at = (t - b) * per;
      items.push_back(grade_item(problems[todo[t].problem], todo[t].budget, completions[at].at(0),
                                 per == 2 ? completions[at + 1] : std::vector<Completion>{}));
      right += items.back()["greedy"]["correct"].get<bool>();
    }
    log.append(items);
    graded += static_cast<int64_t>(e - b);
    if (bar)
      bar->update(static_cast<double>(graded), std::to_string(right) + " right greedily (" +
                                                   std::to_string(static_cast<int>(percent(right, graded))) + "%)");
  }
  if (bar) bar->finish(std::to_string(right) + " of " + std::to_string(graded) + " right greedily");

  // The report covers this run's problems at its budgets, graded now or before.
  std::map<std::pair<std::string, int64_t>, const json*> by_key;
  for (const json& r : log.records()) by_key[{r.value("id", std::string()), r.value("budget", int64_t{-1})}] = &r;
  EvalReport report;
  report.source = source.describe();
  report.dataset = options.dataset;
  report.samples = options.samples;
  for (int64_t budget : budgets) {
    std::vector<const json*> items;
    for (const ReasoningProblem& p : problems) items.push_back(by_key.at({p.id, budget}));
    report.budgets.push_back(summarize(budget, items));
  }
  write_file_atomic(out_dir + "/report.json", report.to_json().dump(2) + "\n");
  if (budgets.size() > 1) write_file_atomic(out_dir + "/compute_curve.svg", compute_curve_svg(report));
  return report;
}

nlohmann::ordered_json EvalReport::to_json() const {
  json rows = json::array();
  for (const EvalSummary& s : budgets) {
    json row = {{"thinking_budget", s.budget < 0 ? json(nullptr) : json(s.budget)},
                {"total", s.problems},
                {"correct", s.greedy_correct},
                {"accuracy", percent(s.greedy_correct, s.problems) / 100},
                {"extracted", s.extracted},
                {"mean_tokens", s.mean_tokens}};
    if (samples > 1) {
      row["samples"] = samples;
      row["majority_correct"] = s.majority_correct;
      row["majority_accuracy"] = percent(s.majority_correct, s.problems) / 100;
      row["majority_ties"] = s.ties;
      row["pass_at_k"] = percent(s.pass_at_k, s.problems) / 100;
      row["best_of_k_logprob_accuracy"] = percent(s.best_of_k_correct, s.problems) / 100;
      row["mean_sample_tokens"] = s.mean_sample_tokens;
    }
    rows.push_back(row);
  }
  return {{"source", source}, {"dataset", dataset}, {"samples", samples}, {"results", rows}};
}

std::string EvalReport::table() const {
  const std::string k = std::to_string(samples);
  std::string out = "budget    problems   greedy %  extracted  mean tokens";
  if (samples > 1) out += "  majority@" + k + " %  pass@" + k + " %  best-of-" + k + " %  ties";
  out += "\n";
  for (const EvalSummary& s : budgets) {
    char line[256];
    std::snprintf(line, sizeof line, "%-8s  %8lld  %9.1f  %9lld  %11.1f",
                  s.budget < 0 ? "none" : std::to_string(s.budget).c_str(), static_cast<long long>(s.problems),
                  percent(s.greedy_correct, s.problems), static_cast<long long>(s.extracted), s.mean_tokens);
    out += line;
    if (samples > 1) {
      std::snprintf(line, sizeof line, "  %*.1f  %*.1f  %*.1f  %4lld", static_cast<int>(11 + k.size()),
                    percent(s.majority_correct, s.problems), static_cast<int>(7 + k.size()),
                    percent(s.pass_at_k, s.problems), static_cast<int>(10 + k.size()),
                    percent(s.best_of_k_correct, s.problems), static_cast<long long>(s.ties));
      out += line;
    }
    out += "\n";
  }
  return out;
}

}  // namespace stepwise
