// run_distill: ask, grade, filter, deduplicate, append.
#include "eval/distill.h"

#include <algorithm>
#include <memory>
#include <set>

#include "core/strings.h"
#include "eval/answer.h"
#include "eval/jsonl_log.h"
#include "train/progress.h"

namespace stepwise {

namespace {

using json = nlohmann::ordered_json;

std::string trace_key(const std::string& problem, const std::string& thinking, const std::string& content) {
  return problem + '\x1f' + thinking + '\x1f' + content;
}

}  // namespace

nlohmann::ordered_json DistillSummary::to_json() const {
  return {{"problems", problems},
          {"already_done", already_done},
          {"generated", generated},
          {"correct", correct},
          {"kept", kept},
          {"duplicates", duplicates},
          {"unfinished", unfinished},
          {"kept_fraction", generated > 0 ? static_cast<double>(kept) / static_cast<double>(generated) : 0.0},
          {"mean_kept_tokens", mean_kept_tokens},
          {"traces_in_file", traces_in_file}};
}

DistillSummary run_distill(CompletionSource& teacher, const std::vector<ReasoningProblem>& problems,
                           const DistillOptions& options, const std::string& out_path) {
  JsonlLog traces(out_path), asked(out_path + ".progress.jsonl");
  std::set<std::string> done, seen;
  for (const json& t : traces.records()) {
    done.insert(t.value("problem", std::string()));
    seen.insert(trace_key(t.value("problem", std::string()), t.value("message_thinking", std::string()),
                          t.value("message_content", std::string())));
  }
  for (const json& a : asked.records()) done.insert(a.value("problem", std::string()));

  DistillSummary summary;
  std::vector<size_t> todo;
  for (size_t j = 0; j < problems.size(); ++j) {
    if (done.count(problems[j].problem)) {
      ++summary.already_done;
    } else {
      todo.push_back(j);
      done.insert(problems[j].problem);  // a problem listed twice is asked once
    }
  }
  std::unique_ptr<ProgressBar> bar;
  if (options.progress && !todo.empty())
    bar = std::make_unique<ProgressBar>("distill", static_cast<double>(todo.size()));
  double kept_tokens = 0;
  for (size_t b = 0; b < todo.size(); b += static_cast<size_t>(options.batch)) {
    const size_t e = std::min(todo.size(), b + static_cast<size_t>(options.batch));
    std::vector<CompletionRequest> requests;
    for (size_t t = b; t < e; ++t) {
      CompletionRequest r;
      r.user_message = render_math_prompt(problems[todo[t]].problem);
      r.n = options.samples;
      r.temperature = options.temperature;
      r.top_p = options.top_p;
      r.seed = options.seed + static_cast<uint64_t>(todo[t]) * static_cast<uint64_t>(options.samples);
      r.max_tokens = options.max_tokens;
      r.thinking_budget = options.thinking_budget;
      requests.push_back(r);
    }
    const std::vector<std::vector<Completion>> completions = teacher.complete(requests);
    std::vector<json> kept, progress;
    for (size_t t = b; t < e; ++t) {
      const ReasoningProblem& p = problems[todo[t]];
      std::vector<json> right;
      int64_t problem_correct = 0;
      for (const Completion& c : completions[t - b]) {
        ++summary.generated;
        const std::string thinking = trim(c.reasoning), content = trim(c.text);
        if (thinking.empty() || content.empty()) {
          ++summary.unfinished;
          continue;
        }
        const std::optional<std::string> answer = extract_answer(content);
        if (!answer || !answers_match(*answer, p.answer)) continue;
        ++summary.correct;
        ++problem_correct;
        if (!seen.insert(trace_key(p.problem, thinking, content)).second) {
          ++summary.duplicates;
          continue;
        }
        right.push_back({{"problem", p.problem},
                         {"gtruth_answer", p.answer},
                         {"message_thinking", thinking},
                         {"message_content", content},
                         {"id", p.id},
                         {"tokens", c.tokens},
                         {"teacher", teacher.describe()}});
      }
      if (options.shortest_only && right.size() > 1) {
        const auto shortest = std::min_element(right.begin(), right.end(), [](const json& a, const json& b) {
          return a["tokens"].get<int64_t>() < b["tokens"].get<int64_t>();
        });
        right = std::vector<json>(1, *shortest);
      }
      for (const json& r : right) kept_tokens += r["tokens"].get<double>();
      summary.kept += static_cast<int64_t>(right.size());
      kept.insert(kept.end(), right.begin(), right.end());
      progress.push_back({{"problem", p.problem},
                          {"id", p.id},
                          {"generated", completions[t - b].size()},
                          {"correct", problem_correct},
                          {"kept", right.size()}});
    }
    // Traces first: a problem is marked asked only once its traces are on disk.
    traces.append(kept);
    asked.append(progress);
    summary.problems += static_cast<int64_t>(e - b);
    if (bar)
      bar->update(static_cast<double>(summary.problems),
                  std::to_string(summary.kept) + " kept of " + std::to_string(summary.generated) + " generated");
  }
  if (bar) bar->finish(std::to_string(summary.kept) + " kept of " + std::to_string(summary.generated));
  if (summary.kept > 0) summary.mean_kept_tokens = kept_tokens / static_cast<double>(summary.kept);
  summary.traces_in_file = static_cast<int64_t>(traces.records().size());
  return summary;
}

}  // namespace stepwise
