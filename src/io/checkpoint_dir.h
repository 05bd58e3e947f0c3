// The checkpoint directory on disk, independent of what its shards hold (train/training_checkpoint.h decides
// that): the naming of its files, the manifest with a checksum per file, and the .tmp-then-rename protocol.
// A checkpoint is a directory <root>/step-00001200 holding shard files (written by each rank: the model shard of
// each TP rank, the optimizer shard of each TP x DP rank) and manifest.json (written last, by rank 0) with the
// training state and a checksum per file. It is built as <root>/step-00001200.tmp and renamed into place only
// when complete, so a directory without the .tmp suffix is always whole; a crash leaves the previous checkpoints
// untouched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace stepwise {

// Version 2: XXH3-64 checksums and the writer of each file. Version 1 manifests (FNV-1a 64) are still read.
constexpr int kCheckpointFormatVersion = 2;

enum class ChecksumKind { kFnv1a64, kXxh3 };
const char* checksum_name(ChecksumKind kind);  // the manifest key: "fnv1a64", "xxh3"
uint64_t file_checksum(ChecksumKind kind, const std::string& path);

struct CheckpointFile {
  std::string name;  // relative to the checkpoint directory
  int64_t bytes = 0;
  uint64_t hash = 0;
  ChecksumKind checksum = ChecksumKind::kXxh3;
  int rank = -1;     // the world rank that wrote it (-1: not recorded, version 1)
  std::string host;  // that rank's host name ("": not recorded): where a node-local file lives
};

// The manifest's "files" array, and back (DATA_LOSS naming `path` and the entry; names must stay inside `dir`).
nlohmann::json checkpoint_files_json(const std::vector<CheckpointFile>& files);
std::vector<CheckpointFile> parse_checkpoint_files(const nlohmann::json& files, const std::string& dir,
                                                   const std::string& path);

struct CheckpointManifest {
  int64_t step = 0;         // optimizer steps completed
  int64_t tokens_seen = 0;  // tokens of every training micro-batch so far, all ranks
  int tp = 1, dp = 1;
  bool zero1 = false;
  nlohmann::json model_config;  // Hugging Face config.json of the model
  nlohmann::json trainer;       // the trainer's own state: loader position, counters (train/training_checkpoint.h)
  std::vector<CheckpointFile> files;
};

std::string checkpoint_dir_name(int64_t step);  // "step-00001200"
// Complete checkpoints under root (the .tmp ones ignored), oldest first; an absent root has none.
std::vector<std::string> list_checkpoints(const std::string& root);

// A checkpoint directory itself (it holds manifest.json), or the newest complete checkpoint under a run directory
// (<path>/checkpoints) or under a checkpoints root. NOT_FOUND naming the path when there is none.
std::string resolve_checkpoint_dir(const std::string& path);

// <root>/step-N.tmp, where step N's checkpoint is assembled.
std::string checkpoint_tmp_dir(const std::string& root, int64_t step);
// Rank 0: a fresh checkpoint_tmp_dir (removing one a crash left behind); returns its path.
std::string begin_checkpoint(const std::string& root, int64_t step);
// Describes a file just written into the checkpoint (size and XXH3 checksum), for the manifest.
CheckpointFile describe_checkpoint_file(const std::string& dir, const std::string& name);
// Rank 0, after every rank wrote its files: the manifest (atomically), then the rename of the .tmp directory into
// place and an fsync of root. Returns the final path.
std::string commit_checkpoint(const std::string& root, const std::string& tmp_dir,
                              const CheckpointManifest& manifest);
// The manifest.json document commit_checkpoint writes.
nlohmann::json checkpoint_manifest_json(const CheckpointManifest& manifest);
// Removes all but the newest `keep` complete checkpoints, and stale .tmp directories.
void prune_checkpoints(const std::string& root, int64_t keep);

// Reads dir/manifest.json (DATA_LOSS naming the file when malformed).
CheckpointManifest read_checkpoint_manifest(const std::string& dir);
// The file's size and checksum against the manifest: DATA_LOSS naming the file, both values and what to do
// (`what_to_do` replaces the default advice, which is to resume from an older checkpoint).
void verify_checkpoint_file(const std::string& dir, const CheckpointFile& file, const std::string& what_to_do = "");
const CheckpointFile& find_checkpoint_file(const CheckpointManifest& m, const std::string& dir,
                                           const std::string& name);

// Where a model shard's tensor sits in the full tensor: stored in the shard file's safetensors metadata under
// "shard.<name>" as "<dim> <start> <d0>x<d1>..." (dim -1: replicated).
struct TensorShardInfo {
  int dim = -1;
  int64_t start = 0;
  Shape full_shape;
};
std::string encode_tensor_shard_info(const TensorShardInfo& info);
TensorShardInfo decode_tensor_shard_info(const std::string& text, const std::string& where);

std::string model_shard_file_name(int tp_rank);                  // "model-tp00.safetensors"
std::string optimizer_shard_file_name(int tp_rank, int dp_rank);  // "optimizer-tp00-dp00.safetensors"

}  // namespace stepwise
