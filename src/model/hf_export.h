// Hugging Face export: a stepwise checkpoint (model shards of any TP layout, io/checkpoint_dir.h) or a model held by
// one process -> a folder with config.json and model.safetensors that transformers and load_hf_model() read.
// Tied embeddings are written without lm_head.weight, as Hugging Face does.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/hf_config.h"
#include "model/qwen3.h"

namespace stepwise {

// The whole weights of a checkpoint, each tensor assembled from the TP shards (CPU, the stored dtype), in
// Hugging Face names and order. The model shards are checked against the manifest's checksums first.
struct CheckpointWeights {
  Qwen3Config config;
  std::vector<std::pair<std::string, Tensor>> tensors;
};
CheckpointWeights read_checkpoint_weights(const std::string& checkpoint_dir);

// Writes dir/config.json and dir/model.safetensors (each atomically), tensors converted to `dtype` when given.
void write_hf_model(const std::string& dir, const Qwen3Config& config,
                    const std::vector<std::pair<std::string, Tensor>>& tensors, std::optional<DType> dtype = {});

// `checkpoint` is a checkpoint directory, or a run directory / checkpoints root (its newest checkpoint is taken).
// Returns the checkpoint directory exported.
std::string export_checkpoint_to_hf(const std::string& checkpoint, const std::string& out_dir,
                                    std::optional<DType> dtype = {});
// A model that is not tensor-parallel (INVALID_ARGUMENT otherwise: export its checkpoint instead).
void export_model_to_hf(const Qwen3Model& model, const std::string& out_dir, std::optional<DType> dtype = {});

}  // namespace stepwise
