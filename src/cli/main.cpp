// The single `stepwise` binary: the command line (cli/command_line.h) runs the command; any error is one line on
// stderr and a non-zero exit status. First, the CPU backend's BLAS kernels are made to fit the CPU
// (kernels/cpu/blas_family.h).
#include "cli/command_line.h"
#include "core/logging.h"
#include "kernels/cpu/blas_family.h"

int main(int argc, char** argv) {
  // Before any work: OpenBLAS's kernels are chosen when it loads, so a better family means re-executing.
  stepwise::kernels::cpu::ensure_best_blas_family(argv);
  stepwise::init_logging(argv[0]);
  stepwise::cli::CommandLine command_line;
  return command_line.run(argc, argv);
}
