// The benchmark runner of `stepwise eval run`: every problem asked greedily, and with K samples when asked
// (self-consistency: majority of K, pass@K, best-of-K by mean log-probability), at one or more thinking budgets
// (the test-time compute curve), graded, kept one JSON line per (problem, budget) in OUT/items.jsonl and
// summarised in OUT/report.json. A run is resumable: items already in OUT/items.jsonl are not asked again, and an
// incomplete last line (an interrupted write) is dropped. OUT/settings.json pins what the items depend on (source,
// dataset, sampling, lengths); resuming with other settings is refused.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/completion_source.h"
#include "eval/reasoning_problems.h"

namespace stepwise {

struct EvalRunOptions {
  std::string dataset;       // as given (for settings.json and the report)
  int64_t samples = 1;       // K; > 1 adds K sampled completions per problem to the greedy one
  double temperature = 0.8;  // of the K samples (the book's self-consistency default)
  double top_p = 0.9;
  uint64_t seed = 1;                      // problem j's samples draw from seed + j*K + i
  bool enable_thinking = true;            // the chat template's thinking mode
  int64_t max_tokens = 2048;              // new tokens per completion, reasoning included
  std::vector<int64_t> thinking_budgets;  // empty: one run without a budget
  int64_t batch = 16;                     // problems asked at once
  bool progress = true;                   // a progress bar on stderr
};

struct EvalSummary {    // one thinking budget
  int64_t budget = -1;  // -1: none
  int64_t problems = 0, greedy_correct = 0, extracted = 0;
  double mean_tokens = 0;  // of the greedy completions
  // With K > 1 samples:
  int64_t majority_correct = 0, pass_at_k = 0, best_of_k_correct = 0, ties = 0;
  double mean_sample_tokens = 0;
};

struct EvalReport {
  std::string source, dataset;
  int64_t samples = 1;
  std::vector<EvalSummary> budgets;
  nlohmann::ordered_json to_json() const;
  std::string table() const;  // one row per budget, for the terminal
};

EvalReport run_eval(CompletionSource& source, const std::vector<ReasoningProblem>& problems,
                    const EvalRunOptions& options, const std::string& out_dir);

// The inference-time scaling picture as a standalone SVG: accuracy (greedy, and majority of K when sampled)
// against mean generated tokens, one point per thinking budget.
std::string compute_curve_svg(const EvalReport& report);

}  // namespace stepwise
