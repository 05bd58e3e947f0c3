// `stepwise train`: an SFT run from a YAML config (train/train_config.h), on one process or under mpirun.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "distributed/mpi_runtime.h"
#include "train/loop.h"
#include "train/train_config.h"

namespace stepwise::cli {

namespace {

struct TrainFlags {
  std::string config_path, output, steps;
  std::vector<std::string> overrides;
  RunOptions options;
};

int train(const TrainFlags& flags) {
  // --output and --steps are shorthands for overrides, applied after the --set ones as before.
  std::vector<std::string> overrides = flags.overrides;
  if (!flags.output.empty()) overrides.push_back("run.output_dir=" + flags.output);
  if (!flags.steps.empty()) {
    overrides.push_back("train.steps=" + flags.steps);
    overrides.push_back("train.epochs=0");
  }
  const TrainConfig config = load_train_config(flags.config_path, overrides);
  const bool multi_rank = config.run.tp > 1 || config.run.dp > 1;
  return run_with_mpi_if_needed(multi_rank, [&] {
    run_sft(config, flags.options);
    return 0;
  });
}

}  // namespace

void add_train_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App& command = add_command(
      parent, "train", "supervised fine-tuning from a YAML config, with checkpoints and exact resume",
      "stepwise train --config configs/sft/tiny-gsm8k.yaml --set optimizer.lr=3e-4 --output runs/try1\n"
      "mpirun -np 8 stepwise train --config configs/sft/qwen3-0.6b-math.yaml --resume",
      "The config's fields and defaults: --help-config (the table in docs/sft.md). With run.tp x run.dp > 1, run under mpirun or srun with\n"
      "that many ranks (launch/mpirun.sh, launch/slurm/sft.sbatch).");
  // Before --config's requirement is checked: flag callbacks run first, and Success ends the parse with status 0.
  command.add_flag_callback(
      "--help-config",
      [] {
        std::fputs(train_config_schema().markdown_reference().c_str(), stdout);
        throw CLI::Success();
      },
      "print every config field (key, type, default, allowed values, meaning) as a Markdown table and exit");
  existing_file(
      command.add_option("--config", flags->config_path, "the run's YAML config")->required()->type_name("FILE"));
  command.add_flag("--resume", flags->options.resume, "continue from the newest complete checkpoint of run.output_dir");
  command
      .add_option("--set", flags->overrides,
                  "override a config field, e.g. --set optimizer.lr=3e-4 (repeatable; --set=k=v works too)")
      ->type_name("SECTION.KEY=VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  command.add_option("--output", flags->output, "the run directory: the same as --set run.output_dir=DIR")
      ->type_name("DIR");
  command
      .add_option("--steps", flags->steps, "optimizer steps: the same as --set train.steps=N --set train.epochs=0")
      ->type_name("N");
  at_least(command.add_option("--stop-after", flags->options.stop_after_steps,
                              "end this invocation after N steps, with a checkpoint (continue later with --resume); "
                              "0: run to the end")
               ->type_name("N"),
           0);
  cli.on_run(command, [flags] { return train(*flags); });
}

}  // namespace stepwise::cli
