// Loading MATH-500, GSM8K and user problem files; the prompt template.
#include "eval/reasoning_problems.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/status.h"
#include "train/sft_records.h"

namespace stepwise {

namespace {

using json = nlohmann::json;

std::string text_field(const json& record, const char* key, const std::string& where) {
  const auto it = record.find(key);
  if (it == record.end() || !it->is_string() || it->get<std::string>().empty())
    invalid_argument(where, ": field '", key, "' must be a non-empty string");
  return it->get<std::string>();
}

// One record -> a problem; `where` is "FILE:LINE" or "FILE[INDEX]", `fallback_id` its position.
ReasoningProblem parse_problem(const json& r, const std::string& where, const std::string& fallback_id) {
  if (!r.is_object()) invalid_argument(where, ": a problem must be a JSON object, got ", r.type_name());
  ReasoningProblem p;
  p.problem = text_field(r, r.contains("problem") ? "problem" : "question", where);
  std::string answer;
  if (r.contains("answer") && r["answer"].is_number()) {
    answer = r["answer"].dump();
  } else {
    answer = text_field(r, "answer", where);
  }
  if (answer.find("####") != std::string::npos) {
    try {
      answer = split_gsm8k_answer(answer).second;
    } catch (const BadRecord& e) {
      invalid_argument(where, ": field 'answer': ", e.what());
    }
  }
  p.answer = answer;
  for (const char* key : {"unique_id", "id"})
    if (r.contains(key) && (r[key].is_string() || r[key].is_number_integer())) {
      p.id = r[key].is_string() ? r[key].get<std::string>() : r[key].dump();
      break;
    }
  if (p.id.empty()) p.id = fallback_id;
  return p;
}

std::vector<ReasoningProblem> read_problem_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) invalid_argument("dataset ", path, ": cannot open it (give math500, gsm8k or an existing file)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<ReasoningProblem> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    json array;
    try {
      array = json::parse(text);
    } catch (const json::exception& e) {
      invalid_argument(path, ": not valid JSON (", e.what(), ")");
    }
    for (size_t i = 0; i < array.size(); ++i)
      out.push_back(parse_problem(array[i], path + "[" + std::to_string(i) + "]", "#" + std::to_string(i)));
  } else {
    std::istringstream lines(text);
    std::string line;
    for (int64_t n = 1; std::getline(lines, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + ":" + std::to_string(n);
      json record;
      try {
        record = json::parse(line);
      } catch (const json::exception& e) {
        invalid_argument(where, ": not a JSON object (", e.what(), ")");
      }
      out.push_back(parse_problem(record, where, "#" + std::to_string(n)));
    }
  }
  if (out.empty()) invalid_argument("dataset ", path, " has no problems");
  std::set<std::string> ids;
  for (const ReasoningProblem& p : out)
    if (!ids.insert(p.id).second)
      invalid_argument(path, ": problem id '", p.id, "' occurs twice; ids must be unique (results are kept by id)");
  return out;
}

}  // namespace

std::vector<ReasoningProblem> load_reasoning_problems(const std::string& dataset, const std::string& data_dir,
                                                      int64_t limit) {
  std::string path = dataset;
  if (dataset == "math500" || dataset == "gsm8k") {
    path = data_dir + (dataset == "math500" ? "/math500_test.json" : "/gsm8k_test.jsonl");
    if (!std::filesystem::exists(path))
      invalid_argument("dataset ", dataset, ": ", path, " does not exist; pass --data-dir DIR (the folder holding ",
                       "math500_test.json and gsm8k_test.jsonl, data/reasoning in the source tree) or a file");
  }
  std::vector<ReasoningProblem> problems = read_problem_file(path);
  if (limit > 0 && static_cast<int64_t>(problems.size()) > limit) problems.resize(static_cast<size_t>(limit));
  return problems;
}

std::string render_math_prompt(const std::string& problem) {
  return "You are a helpful math assistant.\nAnswer the question and write the final result on a new line as:\n"
         "\\boxed{ANSWER}\n\nQuestion:\n" +
         problem + "\n\nAnswer:";
}

}  // namespace stepwise
