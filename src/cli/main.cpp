// The single `stepwise` binary: dispatches to a subcommand; any error becomes one line on stderr and exit 1.
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/commands.h"
#include "core/logging.h"
#include "core/status.h"

namespace {
void usage(FILE* out) {
  std::fprintf(out, "usage: stepwise <command> [flags]\n\ncommands:\n");
  for (int i = 0; i < stepwise::cli::kNumCommands; ++i)
    std::fprintf(out, "  %-10s %s\n", stepwise::cli::kCommands[i].name, stepwise::cli::kCommands[i].summary);
}
}  // namespace

int main(int argc, char** argv) {
  stepwise::init_logging(argv[0]);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (int i = 0; i < stepwise::cli::kNumCommands; ++i) {
    const auto& c = stepwise::cli::kCommands[i];
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const stepwise::StatusError& e) {
      std::fprintf(stderr, "stepwise %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stepwise %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "stepwise: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
