// `stepwise export`: a stepwise checkpoint (any TP layout) -> a Hugging Face folder (config.json +
// model.safetensors, and the tokenizer files when --tokenizer is given).
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/status.h"
#include "model/hf_export.h"

namespace stepwise::cli {

int cmd_export(int argc, char** argv) {
  Args args(argc, argv, {"help"});
  if (args.flag("help")) {
    std::printf("usage: stepwise export --checkpoint DIR --output DIR [--dtype float32|bfloat16|float16] "
                "[--tokenizer DIR]\n  DIR: a checkpoint (step-*), or a run directory (its newest checkpoint)\n");
    return 0;
  }
  const std::string checkpoint = args.require("checkpoint"), output = args.require("output");
  const std::optional<std::string> dtype_name = args.get("dtype");
  const std::optional<std::string> tokenizer = args.get("tokenizer");
  args.finish();
  std::optional<DType> dtype;
  if (dtype_name) {
    if (*dtype_name == "float32") dtype = DType::kF32;
    else if (*dtype_name == "bfloat16") dtype = DType::kBF16;
    else if (*dtype_name == "float16") dtype = DType::kF16;
    else invalid_argument("export: --dtype must be float32, bfloat16 or float16, got '", *dtype_name, "'");
  }
  const std::string from = export_checkpoint_to_hf(checkpoint, output, dtype);
  if (tokenizer) {
    namespace fs = std::filesystem;
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(*tokenizer) / name;
      if (!fs::exists(src)) fail(StatusCode::kNotFound, "export: --tokenizer ", *tokenizer, " has no ", name);
      fs::copy_file(src, fs::path(output) / name, fs::copy_options::overwrite_existing);
    }
  }
  std::printf("export: %s -> %s (config.json, model.safetensors%s)\n", from.c_str(), output.c_str(),
              tokenizer ? ", tokenizer files" : "");
  return 0;
}

}  // namespace stepwise::cli
