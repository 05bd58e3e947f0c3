// Reasoning benchmark problems and the prompt they are asked with. A dataset is MATH-500 (`math500`: a JSON array
// of {problem, answer, unique_id, ...}), GSM8K (`gsm8k`: JSONL of {question, answer} whose answer ends in "#### N"),
// or a file of the user's: JSONL, or a JSON array, of {problem | question, answer [, id | unique_id]} (a GSM8K-style
// answer with "#### N" is reduced to N).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stepwise {

struct ReasoningProblem {
  std::string id;       // unique within the dataset: its own id, else "#<line or index>"
  std::string problem;  // the question as asked
  std::string answer;   // the reference final answer
};

// `dataset` is "math500", "gsm8k" (found in `data_dir`: math500_test.json, gsm8k_test.jsonl) or a file path.
// Errors name the file, the line or index, and the field. `limit` > 0 keeps the first `limit` problems.
std::vector<ReasoningProblem> load_reasoning_problems(const std::string& dataset, const std::string& data_dir,
                                                      int64_t limit = 0);

// The book's prompt (Raschka, "Reasoning from scratch", ch. 3): a math-assistant instruction asking for the final
// result as \boxed{ANSWER} on its own line, then "Question:\n{problem}\n\nAnswer:". Sent as the user message of
// the Qwen3 chat template.
std::string render_math_prompt(const std::string& problem);

}  // namespace stepwise
