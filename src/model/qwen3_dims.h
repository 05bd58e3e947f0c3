// The sizes one tensor-parallel rank holds of a Qwen3 model (Megatron layout): attention heads, KV heads and
// the MLP's intermediate size are split evenly; the vocabulary is split into contiguous ranges.
#pragma once

#include <cstdint>

#include "io/hf_config.h"

namespace stepwise {

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

}  // namespace stepwise
