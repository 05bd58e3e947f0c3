// How tensor parallelism partitions a Qwen3 model (Megatron layout), in one place: every weight tensor with its
// Hugging Face name, full shape and split (distributed/tensor_parallel.h's rules: q/k/v and gate/up
// column-parallel, o_proj and down_proj row-parallel, embedding and LM head vocab-parallel, norms replicated), and
// the per-rank sizes that follow from it. The model's weights, gradients, checkpoints and optimizer all derive from
// this table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/tensor_parallel.h"
#include "io/hf_config.h"

namespace stepwise {

// The sizes one tensor-parallel rank holds: attention heads, KV heads and the MLP's intermediate size split evenly,
// the vocabulary in contiguous ranges.
struct Qwen3LocalDims {
  int64_t hidden = 0;
  int64_t head_dim = 0;
  int64_t heads = 0;     // query heads on this rank
  int64_t kv_heads = 0;  // key/value heads on this rank
  int64_t ffn = 0;       // intermediate size on this rank
  int64_t vocab = 0;     // vocabulary rows on this rank
  int64_t vocab_start = 0;
  int64_t layers = 0;
  int tp_rank = 0;
  int tp_size = 1;

  int64_t q_dim() const { return heads * head_dim; }
  int64_t kv_dim() const { return kv_heads * head_dim; }
};

// Errors (INVALID_ARGUMENT) name both numbers when heads, KV heads or the intermediate size do not divide by
// the tensor-parallel size.
Qwen3LocalDims make_local_dims(const Qwen3Config& config, int tp_rank, int tp_size);

// Where a weight lives in the model's structs (model/parameters.h).
enum class Qwen3Slot {
  kEmbed, kFinalNorm, kLmHead,  // model-wide
  kInputNorm, kQProj, kKProj, kVProj, kQNorm, kKNorm, kOProj, kPostNorm, kGateUp, kDownProj,  // per layer
};

struct Qwen3TensorSpec {
  std::string name;  // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
  Shape full_shape;
  TpSplit split = TpSplit::kReplicated;
  // Replicated, but applied to this rank's heads only (the per-head q/k norms): each rank's gradient is a partial sum.
  bool grad_partial_over_tp = false;
  Qwen3Slot slot = Qwen3Slot::kEmbed;
  int64_t layer = -1;  // per-layer slots
  // gate_proj and up_proj share the fused gate_up slot: this tensor is its block of rows `part` of `parts`.
  int part = 0, parts = 1;
};

// Every weight of the model in Hugging Face order, which is also the order of the model's flat weight and gradient
// blocks (a tied model has no lm_head.weight: the LM head is the embedding).
std::vector<Qwen3TensorSpec> qwen3_tensor_specs(const Qwen3Config& config);

// Where each weight of one TP rank sits in the model's flat gradient block (Qwen3Model::grad_block(), the layout
// ZeRO-1 slices), computed without building the model: checkpoint conversion lays optimizer shards out with it.
struct Qwen3FlatLayout {
  struct Entry {
    std::string name;
    int64_t offset = 0;  // elements from the block's start
    int64_t numel = 0;
  };
  std::vector<Entry> entries;  // qwen3_tensor_specs() order
  int64_t total = 0;           // the block's elements, padding included
};
// `multiple`: ModelOptions::flat_block_multiple (the DP size under ZeRO-1, else 1).
Qwen3FlatLayout qwen3_flat_layout(const Qwen3Config& config, int tp_rank, int tp_size, int64_t multiple);

}  // namespace stepwise
