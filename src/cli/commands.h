// The subcommands of the `stepwise` binary. Each lives in its own cmd_<name>.cpp, takes its argv
// (argv[0] = the subcommand's name) and returns the process exit code; errors are thrown as StatusError
// and printed as one line by main.
#pragma once

namespace stepwise::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

// All subcommands, in the order `stepwise --help` lists them (defined in commands.cpp).
extern const Command kCommands[];
extern const int kNumCommands;

int cmd_score(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_data(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_demo(int argc, char** argv);

}  // namespace stepwise::cli
