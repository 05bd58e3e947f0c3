// The single `stepwise` binary: the command line (cli/command_line.h) runs the command; any error is one line on
// stderr and a non-zero exit status.
#include "cli/command_line.h"
#include "core/logging.h"

int main(int argc, char** argv) {
  stepwise::init_logging(argv[0]);
  stepwise::cli::CommandLine command_line;
  return command_line.run(argc, argv);
}
