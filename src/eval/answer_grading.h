// Grading a file of predictions against reference answers (`stepwise eval grade`): reading the file, grading
// each item (extraction, then the equivalence check), and the summary counts.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/answer_equivalence.h"

namespace stepwise {

struct AnswerPrediction {
  std::string answer;      // the reference
  std::string prediction;  // the model's output (a completion, or only its \boxed{...})
};

// A JSON array of {"answer", "prediction"} (string fields; others are ignored). Throws a StatusError naming the
// file, the entry's index and the field, and what the file must hold.
std::vector<AnswerPrediction> read_answer_predictions(const std::string& path);

struct GradedPrediction {
  std::optional<std::string> extracted;  // nullopt: no answer found in the prediction
  bool correct = false;
  AnswerDecision decision = AnswerDecision::kString;  // meaningful when extracted
  bool string_match = false;                          // a plain check: trimmed extracted answer == trimmed reference
};

GradedPrediction grade_prediction(const AnswerPrediction& item);

// One line of `--details`: index, answer, prediction, extracted (null when none), correct, decision.
nlohmann::ordered_json graded_details(size_t index, const AnswerPrediction& item, const GradedPrediction& graded);

struct GradeSummary {
  int64_t total = 0, correct = 0, extracted = 0, string_match_correct = 0;
  std::map<std::string, int64_t> correct_by_decision, decided_by;  // decision name -> counts
  void add(const GradedPrediction& graded);
  // {"total", "correct", "accuracy", "extracted", "string_match_correct", "decided_by", "correct_by_decision"}
  nlohmann::ordered_json to_json() const;
};

}  // namespace stepwise
