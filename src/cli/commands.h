// The commands of the `stepwise` binary. Each lives in its own cmd_<name>.cpp and declares itself on the command
// line (cli/command_line.h): its subcommand of `parent`, its flags with their checks, help and example, and the
// body that runs it. Errors are thrown as StatusError and printed as one line by CommandLine::run.
#pragma once

#include <CLI/CLI.hpp>

namespace stepwise::cli {

class CommandLine;

void add_score_command(CommandLine& cli, CLI::App& parent);
void add_generate_command(CommandLine& cli, CLI::App& parent);
void add_bench_command(CommandLine& cli, CLI::App& parent);
void add_tokenize_command(CommandLine& cli, CLI::App& parent);
void add_data_command(CommandLine& cli, CLI::App& parent);
void add_train_command(CommandLine& cli, CLI::App& parent);
void add_export_command(CommandLine& cli, CLI::App& parent);
void add_convert_command(CommandLine& cli, CLI::App& parent);
void add_demo_command(CommandLine& cli, CLI::App& parent);
void add_eval_command(CommandLine& cli, CLI::App& parent);
// `stepwise eval grade|run` (cmd_eval_grade.cpp, cmd_eval_run.cpp), under `stepwise eval`.
void add_eval_grade_command(CommandLine& cli, CLI::App& eval);
void add_eval_run_command(CommandLine& cli, CLI::App& eval);
void add_distill_command(CommandLine& cli, CLI::App& parent);
void add_serve_command(CommandLine& cli, CLI::App& parent);
void add_worker_command(CommandLine& cli, CLI::App& parent);
void add_client_command(CommandLine& cli, CLI::App& parent);
// `stepwise client jobs ...` (cmd_client_jobs.cpp), under `stepwise client`.
void add_client_jobs(CommandLine& cli, CLI::App& client);

}  // namespace stepwise::cli
