// `stepwise train`: an SFT run from a YAML config (train/train_config.h), on one process or under mpirun.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "train/loop.h"

namespace stepwise::cli {

namespace {

constexpr const char* kUsage =
    "usage: stepwise train --config FILE.yaml [--resume] [--set section.key=value]... [--output DIR]\n"
    "                      [--steps N] [--stop-after N]\n"
    "  --resume        continue from the newest complete checkpoint of run.output_dir\n"
    "  --set k=v       override a config field (repeatable), e.g. --set optimizer.lr=3e-4\n"
    "  --output DIR    = --set run.output_dir=DIR;  --steps N = --set train.steps=N\n"
    "  --stop-after N  end this invocation after N steps, with a checkpoint (resume later with --resume)\n";

}  // namespace

int cmd_train(int argc, char** argv) {
  // --set may repeat, which Args does not take: collect those first.
  std::vector<std::string> overrides;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--set")) {
      if (i + 1 >= argc) invalid_argument("train: --set needs section.key=value");
      overrides.push_back(argv[++i]);
    } else if (!std::strncmp(argv[i], "--set=", 6)) {
      overrides.push_back(argv[i] + 6);
    } else {
      rest.push_back(argv[i]);
    }
  }
  Args args(static_cast<int>(rest.size()), rest.data(), {"resume", "help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string config_path = args.require("config");
  RunOptions options;
  options.resume = args.flag("resume");
  options.stop_after_steps = args.get_int("stop-after", 0);
  if (auto out = args.get("output")) overrides.push_back("run.output_dir=" + *out);
  if (auto steps = args.get("steps")) {
    overrides.push_back("train.steps=" + *steps);
    overrides.push_back("train.epochs=0");
  }
  args.finish();
  if (options.stop_after_steps < 0) invalid_argument("train: --stop-after must be >= 0");

  const TrainConfig config = load_train_config(config_path, overrides);
  const bool multi_rank = config.run.tp > 1 || config.run.dp > 1;
  return run_with_mpi_if_needed(multi_rank, [&] {
    run_sft(config, options);
    return 0;
  });
}

}  // namespace stepwise::cli
