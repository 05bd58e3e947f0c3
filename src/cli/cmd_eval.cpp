// `stepwise eval`: reasoning benchmarks. `grade` checks given predictions against reference answers
// (cmd_eval_grade.cpp); `run` generates with a model or a server and grades (cmd_eval_run.cpp).
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace stepwise::cli {

void add_eval_command(CommandLine& cli, CLI::App& parent) {
  CLI::App& eval = add_command(parent, "eval", "reasoning benchmarks: grade answers, run MATH-500 / GSM8K",
                               "stepwise eval grade --input math500_qwen3_answers.json");
  add_eval_grade_command(cli, eval);
  add_eval_run_command(cli, eval);
}

}  // namespace stepwise::cli
