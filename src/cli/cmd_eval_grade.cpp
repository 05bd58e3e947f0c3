// `stepwise eval grade`: grades a file of predictions against reference answers (eval/answer_grading.h), prints
// the summary as the last line (JSON), and optionally writes one JSON line per item.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "eval/answer_grading.h"
#include "io/atomic_file.h"

namespace stepwise::cli {

namespace {

struct GradeFlags {
  std::string input, details;
};

int eval_grade(const GradeFlags& flags) {
  const std::vector<AnswerPrediction> items = read_answer_predictions(flags.input);
  GradeSummary summary;
  std::string details;
  for (size_t i = 0; i < items.size(); ++i) {
    const GradedPrediction graded = grade_prediction(items[i]);
    summary.add(graded);
    if (!flags.details.empty()) details += graded_details(i, items[i], graded).dump() + "\n";
  }
  if (!flags.details.empty()) write_file_atomic(flags.details, details);
  std::printf("eval grade: %s: %lld of %lld correct\n", flags.input.c_str(), static_cast<long long>(summary.correct),
              static_cast<long long>(summary.total));
  std::printf("%s\n", summary.to_json().dump().c_str());
  return 0;
}

}  // namespace

void add_eval_grade_command(CommandLine& cli, CLI::App& eval) {
  auto flags = std::make_shared<GradeFlags>();
  CLI::App& command = add_command(
      eval, "grade", "check predictions against reference answers (MATH-500 / GSM8K)",
      "stepwise eval grade --input math500_qwen3_answers.json --details graded.jsonl",
      "FILE: a JSON array of {\"answer\", \"prediction\"}. The answer is extracted from the prediction (the last\n"
      "\\boxed{}, \"####\", \"the answer is\", else the last number) and checked for mathematical equivalence\n"
      "(fractions, radicals, expressions, tuples, intervals, sets, matrices, choices). The last line printed is\n"
      "a JSON summary: total, correct, accuracy, extracted, string_match_correct (a plain trimmed string match)\n"
      "and how many items each kind of comparison decided.");
  existing_file(command.add_option("--input", flags->input, "the predictions to grade")->required()->type_name("FILE"));
  command.add_option("--details", flags->details, "write one JSON line per item: extracted answer, verdict, decision")
      ->type_name("OUT.jsonl");
  cli.on_run(command, [flags] { return eval_grade(*flags); });
}

}  // namespace stepwise::cli
