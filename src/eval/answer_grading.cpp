// Reading prediction files, grading each item, and the summary of `stepwise eval grade`.
#include "eval/answer_grading.h"

#include <fstream>

#include "core/status.h"
#include "core/strings.h"
#include "eval/answer.h"

namespace stepwise {

namespace {

constexpr const char* kExpected = "expected a JSON array of {\"answer\": string, \"prediction\": string}";

}  // namespace

std::vector<AnswerPrediction> read_answer_predictions(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(StatusCode::kNotFound, path, ": cannot open (check the path given to --input)");
  nlohmann::json doc;
  try {
    in >> doc;
  } catch (const nlohmann::json::exception& e) {
    invalid_argument(path, ": not JSON (", e.what(), "); ", kExpected);
  }
  if (!doc.is_array()) invalid_argument(path, ": the top level is not an array; ", kExpected);
  std::vector<AnswerPrediction> items;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& entry = doc[i];
    if (!entry.is_object()) invalid_argument(path, ": entry ", i, " is not an object; ", kExpected);
    AnswerPrediction item;
    for (const auto& [field, value] : {std::pair{"answer", &item.answer}, std::pair{"prediction", &item.prediction}}) {
      const auto it = entry.find(field);
      if (it == entry.end()) invalid_argument(path, ": entry ", i, " has no \"", field, "\"; ", kExpected);
      if (!it->is_string())
        invalid_argument(path, ": entry ", i, " field \"", field, "\" is ", it->type_name(), ", not a string; ",
                         kExpected);
      *value = it->get<std::string>();
    }
    items.push_back(std::move(item));
  }
  return items;
}

GradedPrediction grade_prediction(const AnswerPrediction& item) {
  GradedPrediction graded;
  graded.extracted = extract_answer(item.prediction);
  if (!graded.extracted) return graded;
  const AnswerComparison c = compare_answers(*graded.extracted, item.answer);
  graded.correct = c.equal;
  graded.decision = c.decision;
  graded.string_match = trim(*graded.extracted) == trim(item.answer);
  return graded;
}

nlohmann::ordered_json graded_details(size_t index, const AnswerPrediction& item, const GradedPrediction& graded) {
  nlohmann::ordered_json line;
  line["index"] = index;
  line["answer"] = item.answer;
  line["prediction"] = item.prediction;
  line["extracted"] = graded.extracted ? nlohmann::ordered_json(*graded.extracted) : nlohmann::ordered_json();
  line["correct"] = graded.correct;
  line["decision"] = graded.extracted ? decision_name(graded.decision) : "none";
  return line;
}

void GradeSummary::add(const GradedPrediction& graded) {
  ++total;
  if (!graded.extracted) return;
  ++extracted;
  const std::string decision = decision_name(graded.decision);
  ++decided_by[decision];
  if (graded.correct) {
    ++correct;
    ++correct_by_decision[decision];
  }
  if (graded.string_match) ++string_match_correct;
}

nlohmann::ordered_json GradeSummary::to_json() const {
  nlohmann::ordered_json j;
  j["total"] = total;
  j["correct"] = correct;
  j["accuracy"] = total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
  j["extracted"] = extracted;
  j["string_match_correct"] = string_match_correct;
  j["decided_by"] = decided_by;
  j["correct_by_decision"] = correct_by_decision;
  return j;
}

}  // namespace stepwise
