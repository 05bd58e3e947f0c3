// `stepwise convert`: Hugging Face <-> training checkpoints and re-sharding, alone or under mpirun
// (convert/convert_run.h); `stepwise convert --verify DIR` checks a written checkpoint against its manifest.
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "convert/convert_run.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"

namespace stepwise::cli {

namespace {

struct ConvertFlags {
  std::string input, output, format, dtype, tokenizer, verify;
  std::string max_shard_size = "5GB", buffer_size = "64MB";
  int tp = 1, dp = 1;
  std::string zero1 = "auto";
  bool overwrite = false, no_progress = false;
};

// "5GB", "500MB", "64MiB", "1.5G", "123456" -> bytes (decimal units as transformers' max_shard_size; *iB binary).
std::optional<int64_t> parse_byte_size(const std::string& text) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::pair<const char*, double> units[] = {{"", 1},       {"B", 1},       {"KB", 1e3},  {"K", 1e3},
                                                  {"MB", 1e6},   {"M", 1e6},     {"GB", 1e9},  {"G", 1e9},
                                                  {"TB", 1e12},  {"KIB", 1024.0}, {"MIB", 1048576.0},
                                                  {"GIB", 1073741824.0}};
  for (const auto& [name, scale] : units)
    if (unit == name && x > 0) return static_cast<int64_t>(x * scale);
  return std::nullopt;
}

CLI::Option* byte_size(CLI::Option* flag) {
  return check_value(flag, "e.g. 5GB, 500MB, 64MiB", [](const std::string& v) -> std::string {
    return parse_byte_size(v) ? "" : "expects a positive size such as 5GB or 64MiB, got '" + v + "'";
  });
}

StDType dtype_of(const std::string& name) {
  return name == "bfloat16" ? StDType::kBF16 : name == "float16" ? StDType::kF16 : StDType::kF32;
}

std::string mib(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

int verify(const std::string& dir) {
  const VerifyReport r = verify_converted(dir);
  std::printf("convert --verify: %s: %d files match their manifest (size, checksum, header)\n", dir.c_str(), r.checked);
  for (const std::string& name : r.remote) std::printf("  not on this host: %s\n", name.c_str());
  return 0;
}

int convert(const ConvertFlags& f) {
  if (f.input.empty() || f.output.empty() || f.format.empty())
    invalid_argument("convert: --input, --output and --format are required (or --verify DIR alone)");
  ConvertOptions o;
  o.input = f.input;
  o.output = f.output;
  o.target.format = f.format == "hf" ? CheckpointFormat::kHuggingFace : CheckpointFormat::kNative;
  o.target.tp = f.tp;
  o.target.dp = f.dp;
  if (o.target.format == CheckpointFormat::kHuggingFace && (f.tp != 1 || f.dp != 1 || f.zero1 != "auto"))
    invalid_argument("convert: --tp, --dp and --zero1 describe a training checkpoint; --format hf writes whole tensors");
  if (!f.dtype.empty()) o.target.dtype = dtype_of(f.dtype);
  o.target.max_shard_bytes = *parse_byte_size(f.max_shard_size);
  o.buffer_bytes = *parse_byte_size(f.buffer_size);
  o.tokenizer = f.tokenizer;
  o.overwrite = f.overwrite;
  o.progress = !f.no_progress;
  if (f.zero1 != "auto") o.target.zero1 = f.zero1 == "true";
  ProcessGrid grid = make_process_grid(1, Device::kCPU, 0);
  const ConvertReport r = run_convert(o, grid);
  if (!grid.is_root()) return 0;
  int64_t peak = 0, base = 0;
  for (size_t i = 0; i < r.peak_rss.size(); ++i) {
    peak = std::max(peak, r.peak_rss[i]);
    base = std::max(base, r.baseline_rss[i]);
  }
  const std::string layout = o.target.format == CheckpointFormat::kNative
                                 ? "native tp " + std::to_string(f.tp) + " x dp " + std::to_string(f.dp) +
                                       (r.zero1 ? " (ZeRO-1)" : "")
                                 : "hf";
  std::printf("convert: %s (%s) -> %s (%s): %d files, %.3f GB in %.2f s (%.3f GB/s) by %d rank%s; peak RSS per rank "
              "at most %s (%s before converting, buffer %s)\n",
              r.input_dir.c_str(), r.input_format.c_str(), f.output.c_str(), layout.c_str(), r.files,
              static_cast<double>(r.bytes) / 1e9, r.seconds, static_cast<double>(r.bytes) / 1e9 / r.seconds,
              grid.world_size, grid.world_size == 1 ? "" : "s", mib(peak).c_str(), mib(base).c_str(),
              mib(o.buffer_bytes).c_str());
  return 0;
}

}  // namespace

void add_convert_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<ConvertFlags>();
  CLI::App& command = add_command(
      parent, "convert", "Hugging Face <-> training checkpoints, re-sharding to another TP x DP layout (mpirun: in parallel)",
      "mpirun -np 8 stepwise convert --input Qwen3-32B --output runs/q32/checkpoints/step-00000000 --format native "
      "--tp 8 --dtype bfloat16",
      "The input's kind is detected: a Hugging Face folder (model.safetensors or a sharded index), a training\n"
      "checkpoint (manifest.json) or a run directory (its newest checkpoint). native -> native re-lays the AdamW\n"
      "moments and ZeRO-1 slices, so `train --resume` continues on the new layout. Under mpirun the ranks split the\n"
      "output files; each reads only what it writes (mmap) through a --buffer-size buffer, so no rank holds a model.\n"
      "OUTPUT appears only when complete (it is built as OUTPUT.partial); --verify DIR re-checks every file.");
  command.add_option("--input", flags->input, "a Hugging Face folder, a checkpoint or a run directory")->type_name("DIR");
  command.add_option("--output", flags->output, "the folder to write (absent, or --overwrite)")->type_name("DIR");
  one_of(command.add_option("--format", flags->format, "what to write: hf (a Hugging Face folder) or native (a "
                                                        "training checkpoint)")->type_name("FORMAT"),
         {"hf", "native"});
  at_least(command.add_option("--tp", flags->tp, "native: tensor-parallel size of the checkpoint written"), 1);
  at_least(command.add_option("--dp", flags->dp, "native: data-parallel size of the checkpoint written"), 1);
  one_of(command.add_option("--zero1", flags->zero1,
                            "native: optimizer state in ZeRO-1 slices; default: as the input was trained (false from hf)")
             ->type_name("BOOL"),
         {"true", "false", "auto"});
  one_of(command.add_option("--dtype", flags->dtype,
                            "the weights' dtype; default: as stored (native from hf: float32, the CPU trainer's)")
             ->type_name("DTYPE"),
         {"float32", "bfloat16", "float16"});
  byte_size(command.add_option("--max-shard-size", flags->max_shard_size, "hf: the largest shard file (default 5GB)")
                ->type_name("SIZE"));
  byte_size(command.add_option("--buffer-size", flags->buffer_size,
                               "each rank's write buffer; peak memory is about twice this above the process's own "
                               "(default 64MB)")
                ->type_name("SIZE"));
  add_tokenizer_flag(command, flags->tokenizer, "hf: a folder whose tokenizer and generation_config files to copy");
  command.add_flag("--overwrite", flags->overwrite, "replace an existing --output, once the new one is complete");
  command.add_flag("--no-progress", flags->no_progress, "no progress line on stderr");
  existing_dir(command.add_option("--verify", flags->verify,
                                  "check a checkpoint written by convert or train against its manifest, and exit")
                   ->type_name("DIR"));
  cli.on_run(command, [flags] {
    if (!flags->verify.empty()) return verify(flags->verify);
    return run_with_mpi_if_needed(false, [&] { return convert(*flags); });
  });
}

}  // namespace stepwise::cli
