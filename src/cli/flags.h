// Declaring the `stepwise` commands on CLI11: a command with its help and example, checks on flag values that
// name the flag in their error and state the bound in the help, and the flags several commands share.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace stepwise::cli {

// A new subcommand `name` of `parent`: `summary` (one line) heads its help and its line in the parent's list;
// `details` (optional) follow the flags, then `example` (full command lines, one per line) under "Example:".
CLI::App& add_command(CLI::App& parent, const std::string& name, const std::string& summary, const std::string& example,
                      const std::string& details = "");
// Lists the subcommands of `command` under `heading` in its help ("Benchmarks"); errors use the singular
// ("unknown benchmark 'x'").
void set_subcommand_heading(CLI::App& command, const std::string& heading);

// Checks on a flag's value, appended to its help, e.g. "(>= 1)"; an error reads "--top-p: must be in (0, 1], got 0".
CLI::Option* at_least(CLI::Option* flag, double min);
CLI::Option* in_range(CLI::Option* flag, double min, double max, bool min_excluded = false);
CLI::Option* one_of(CLI::Option* flag, const std::vector<std::string>& values);
CLI::Option* existing_file(CLI::Option* flag);
CLI::Option* existing_dir(CLI::Option* flag);
// Any other check: `error` returns what is wrong with a value (empty: nothing); `note` says what is accepted.
CLI::Option* check_value(CLI::Option* flag, const std::string& note,
                         std::function<std::string(const std::string& value)> error);

// Flags shared by several commands.
CLI::Option* add_model_flag(CLI::App& command, std::string& dir);  // --model DIR (required)
CLI::Option* add_tp_flag(CLI::App& command, int& tp);              // --tp N
// --tokenizer DIR, a folder holding tokenizer.json (required unless `use` says what an optional one is for).
CLI::Option* add_tokenizer_flag(CLI::App& command, std::string& dir, const std::string& use = "");
CLI::Option* add_preset_flag(CLI::App& command, std::string& preset);  // --preset NAME
CLI::Option* add_threads_flag(CLI::App& command, int& threads);        // --threads N
// --<name> N timed repetitions (name: "steps" or "runs"; their median is reported) and --warmup N untimed ones.
void add_timing_flags(CLI::App& command, const std::string& name, int64_t& count, int64_t& warmup);
// --baseline FILE: the PyTorch measurements that hf_baseline.py --out wrote (none: no baseline).
CLI::Option* add_baseline_flag(CLI::App& command, std::string& path);
// --batch B and --seq T: B documents of T tokens.
void add_shape_flags(CLI::App& command, int64_t& batch, int64_t& seq);

}  // namespace stepwise::cli
