// Distillation data (`stepwise distill`): a teacher answers each problem K times with thinking on; the grader keeps
// the traces whose final answer is right (optionally only the shortest right one per problem), exact duplicates are
// dropped, and the kept traces are appended to a JSONL file in the distill format `stepwise data prepare` reads:
// {"problem", "gtruth_answer", "message_thinking", "message_content"} (plus "id", "tokens", "teacher").
// Resumable and appendable: a problem whose traces are in OUT, or that OUT.progress.jsonl lists as asked, is not
// asked again, so a run after an interruption, or with another dataset, adds only what is new.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/completion_source.h"
#include "eval/reasoning_problems.h"

namespace stepwise {

struct DistillOptions {
  int64_t samples = 4;       // K completions per problem
  double temperature = 0.6;  // Qwen3's recommended sampling for thinking mode
  double top_p = 0.95;
  uint64_t seed = 1;          // problem j's samples draw from seed + j*K + i
  int64_t max_tokens = 4096;  // per completion, reasoning included
  int64_t thinking_budget = -1;
  bool shortest_only = false;  // keep one trace per problem: the right one with the fewest tokens
  int64_t batch = 8;           // problems asked at once
  bool progress = true;
};

struct DistillSummary {
  int64_t problems = 0;                                                          // asked in this run
  int64_t already_done = 0;                                                      // skipped: asked by an earlier run
  int64_t generated = 0, correct = 0, kept = 0, duplicates = 0, unfinished = 0;  // unfinished: no answer after </think>
  double mean_kept_tokens = 0;                                                   // of the traces kept in this run
  int64_t traces_in_file = 0;                                                    // OUT's traces after this run
  nlohmann::ordered_json to_json() const;
};

DistillSummary run_distill(CompletionSource& teacher, const std::vector<ReasoningProblem>& problems,
                           const DistillOptions& options, const std::string& out_path);

}  // namespace stepwise
