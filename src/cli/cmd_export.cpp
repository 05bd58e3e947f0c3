// `stepwise export`: a stepwise checkpoint (any TP layout) -> a Hugging Face folder (config.json +
// model.safetensors, and the tokenizer files when --tokenizer is given).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"
#include "model/hf_export.h"

namespace stepwise::cli {

namespace {

struct ExportFlags {
  std::string checkpoint, output, dtype, tokenizer;
};

int export_checkpoint(const ExportFlags& flags) {
  std::optional<DType> dtype;
  if (flags.dtype == "float32") dtype = DType::kF32;
  if (flags.dtype == "bfloat16") dtype = DType::kBF16;
  if (flags.dtype == "float16") dtype = DType::kF16;
  const std::string from = export_checkpoint_to_hf(flags.checkpoint, flags.output, dtype);
  if (!flags.tokenizer.empty()) {
    namespace fs = std::filesystem;
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(flags.tokenizer) / name;
      if (!fs::exists(src)) fail(StatusCode::kNotFound, "export: --tokenizer ", flags.tokenizer, " has no ", name);
      fs::copy_file(src, fs::path(flags.output) / name, fs::copy_options::overwrite_existing);
    }
  }
  std::printf("export: %s -> %s (config.json, model.safetensors%s)\n", from.c_str(), flags.output.c_str(),
              flags.tokenizer.empty() ? "" : ", tokenizer files");
  return 0;
}

}  // namespace

void add_export_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App& command = add_command(
      parent, "export", "a training checkpoint -> a Hugging Face folder (config.json + model.safetensors)",
      "stepwise export --checkpoint runs/tiny-gsm8k --output runs/tiny-gsm8k-hf --dtype bfloat16 --tokenizer DIR",
      "The shards of any TP layout are assembled into whole tensors; tied embeddings are written without\n"
      "lm_head.weight, as Hugging Face does. The result loads with transformers and `stepwise score --model`.");
  existing_dir(command.add_option("--checkpoint", flags->checkpoint,
                                  "a checkpoint (RUN/checkpoints/step-N), or a run directory: its newest checkpoint")
                   ->required()
                   ->type_name("DIR"));
  command.add_option("--output", flags->output, "the Hugging Face folder to write")->required()->type_name("DIR");
  one_of(command.add_option("--dtype", flags->dtype, "the weights' dtype in model.safetensors; default: as stored")
             ->type_name("DTYPE"),
         {"float32", "bfloat16", "float16"});
  add_tokenizer_flag(command, flags->tokenizer,
                     "a tokenizer folder to copy into --output along with the model");
  cli.on_run(command, [flags] { return export_checkpoint(*flags); });
}

}  // namespace stepwise::cli
