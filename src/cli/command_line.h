// The `stepwise` command line on CLI11: the tree of every command and benchmark (each declared, with its flags,
// checks, help and example, by its cmd_<name>.cpp or bench_<name>.cpp), `stepwise help CMD`, and running one:
// help on stdout; any error one line on stderr, with the nearest known names for a mistyped flag or command.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace stepwise::cli {

class CommandLine {
 public:
  CommandLine();  // declares every command
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  CLI::App& root() { return root_; }
  // After a successful parse that selected `command`, `body` runs; its result is the exit status.
  void on_run(const CLI::App& command, std::function<int()> body);
  bool runnable(const CLI::App& command) const { return bodies_.count(&command) > 0; }

  // Parses argv (argv[0]: the program) and runs the command. Exit status: the command's; 0 for help; 1 for a bad
  // flag or a failing command; 2 for no command or an unknown one.
  int run(int argc, char** argv);
  // Parses `args` (no program name) as run() would, without running anything: "" when a command would run, else
  // the error as run() words it. Once per CommandLine (CLI11 keeps a parse's results).
  std::string check(const std::vector<std::string>& args);

 private:
  int run_help(const std::vector<std::string>& path);

  CLI::App root_;
  std::map<const CLI::App*, std::function<int()>> bodies_;
  std::vector<std::string> help_path_;  // the operands of `stepwise help`
};

// "stepwise bench cpu-train": the command's name with those of its parents.
std::string command_path(const CLI::App& command);

}  // namespace stepwise::cli
