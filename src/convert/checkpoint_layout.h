// The two checkpoint formats `stepwise convert` reads and writes, as regions of logical tensors
// (convert/tensor_region.h). Reading: a Hugging Face folder (one file or a sharded index) or a stepwise training
// checkpoint (model shards of any TP layout, optimizer shards of any TP x DP layout, ZeRO-1 or not) becomes a
// catalog: logical tensor -> the mapped pieces that hold it. Logical tensors are named by Hugging Face names for
// weights and "m.", "v.", "master." + that name for AdamW's state (train/adamw.h). Writing: a plan of output files,
// each a list of tensors with the region of the logical tensor each one holds, laid out exactly as the trainer
// (train/training_checkpoint.h) or transformers would write them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/tensor_region.h"
#include "io/checkpoint_dir.h"
#include "io/hf_config.h"
#include "io/safetensors.h"

namespace stepwise {

enum class CheckpointFormat { kHuggingFace, kNative };
const char* checkpoint_format_name(CheckpointFormat format);  // "hf", "native"

struct ConvertSource {
  CheckpointFormat format = CheckpointFormat::kHuggingFace;
  std::string dir;  // the Hugging Face folder, or the checkpoint directory
  Qwen3Config config;
  nlohmann::json config_json;                  // Hugging Face: config.json as found, written out unchanged
  std::optional<CheckpointManifest> manifest;  // native
  std::optional<int64_t> optimizer_step;       // native with optimizer state: AdamW steps taken
  std::map<std::string, std::vector<SourcePiece>> pieces;  // logical tensor -> pieces
  std::vector<std::shared_ptr<SafetensorsFile>> files;     // native: every mapped input file
  std::shared_ptr<const SafetensorsCheckpoint> hf;         // Hugging Face: the mapped files

  bool has(const std::string& logical) const { return pieces.count(logical) > 0; }
};

// `path`: a Hugging Face folder (model.safetensors or model.safetensors.index.json, and config.json), one of those
// files, a checkpoint directory (manifest.json), or a run directory / checkpoints root (its newest checkpoint).
// Every file's header is checked on open (a truncated shard is DATA_LOSS naming it); every weight of the config
// must be there with its full shape (INVALID_ARGUMENT naming the tensor and both shapes otherwise). Native
// checksums are checked separately (verify_source_files), so that ranks can share the reading.
ConvertSource open_convert_source(const std::string& path);
// The input files whose checksums a manifest records (native), for verify_checkpoint_file.
std::vector<CheckpointFile> source_checksummed_files(const ConvertSource& source);

struct OutputTensor {
  std::string name;
  StDType dtype = StDType::kF32;
  Shape shape;
  std::string logical;  // the logical tensor its elements come from ("" with zeros: fresh optimizer moments)
  TensorRegion region;
};

struct OutputFile {
  std::string name;  // relative to the output directory
  std::vector<OutputTensor> tensors;
  std::map<std::string, std::string> metadata;
  int64_t data_bytes() const;
};

struct ConvertTarget {
  CheckpointFormat format = CheckpointFormat::kNative;
  int tp = 1, dp = 1;
  std::optional<bool> zero1;  // unset: as the input checkpoint was trained (false from Hugging Face)
  std::optional<StDType> dtype;  // unset: native from HF float32 (the CPU trainer's), otherwise as stored
  int64_t max_shard_bytes = 5'000'000'000;  // Hugging Face shards
  int ranks = 1;                            // the ranks that write: at least this many HF shards when tensors allow
};

// The files of a training checkpoint at target.tp x target.dp: each TP rank's model shard, each TP x DP rank's
// AdamW state (carried over from a native source, re-laid for ZeRO-1; fresh zeros from a Hugging Face one).
// INVALID_ARGUMENT naming both numbers when heads, KV heads or the intermediate size do not divide by tp.
std::vector<OutputFile> plan_native_files(const ConvertSource& source, const ConvertTarget& target);
// Hugging Face shards in Hugging Face order: "model.safetensors" when one file, else model-0000i-of-0000n.
std::vector<OutputFile> plan_hf_files(const ConvertSource& source, const ConvertTarget& target);

// The manifest of a native output (the source's step, token count and trainer state, or a fresh start).
CheckpointManifest native_manifest(const ConvertSource& source, const ConvertTarget& target,
                                   std::vector<CheckpointFile> files);

}  // namespace stepwise
