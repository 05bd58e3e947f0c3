// What a training checkpoint holds, and its save and exact restore (the directory protocol and the manifest are
// io/checkpoint_dir.h's). Each rank writes its own shard files into the checkpoint directory (the model shard of
// its TP rank, written by DP rank 0, and its optimizer shard); rank 0 adds the manifest after a barrier and renames
// the directory into place. Resume restores weights, optimizer state, the step and token counters and the
// loader's position exactly, after checking every file of this rank against its checksum.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "distributed/process_grid.h"
#include "io/checkpoint_dir.h"
#include "model/qwen3.h"
#include "train/loader.h"
#include "train/trainer_optimizer.h"

namespace stepwise {

struct TrainerState {
  int64_t step = 0;         // optimizer steps completed (applied or skipped)
  int64_t tokens_seen = 0;  // all ranks
  int64_t skipped_steps = 0;
  int64_t consecutive_bad_steps = 0;
  LoaderPosition loader;
  // false: the checkpoint records no position (a converted Hugging Face model): the loader starts afresh.
  bool loader_saved = true;
};

// Collective over the grid. Returns the committed checkpoint directory.
std::string save_checkpoint(const std::string& root, const TrainerState& state, const Qwen3Model& model,
                            const TrainerOptimizer& optimizer, ProcessGrid& grid, bool zero1, int64_t keep_last);

// Restores a checkpoint written on the same TP x DP layout (else INVALID_ARGUMENT naming both layouts). A file
// whose size or checksum differs from the manifest is DATA_LOSS naming it.
TrainerState load_checkpoint(const std::string& dir, Qwen3Model& model, TrainerOptimizer& optimizer,
                             ProcessGrid& grid, bool zero1);

// The newest complete checkpoint under root, or "" when there is none.
std::string latest_checkpoint(const std::string& root);

// Weights only, from a checkpoint of any TP layout (model.init: checkpoint:DIR): each rank takes its slice.
void load_weights_from_checkpoint(const std::string& dir, Qwen3Model& model);

}  // namespace stepwise
