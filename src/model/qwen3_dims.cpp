// Tensor-parallel partition of the Qwen3 dimensions.
#include "model/qwen3_dims.h"

#include <algorithm>

#include "core/status.h"

namespace stepwise {

namespace {
void require_divisible(const char* field, int64_t value, int tp_size) {
  if (value % tp_size != 0)
    invalid_argument(field, " (", value, ") is not divisible by the tensor-parallel size (", tp_size,
                     "); choose a TP size that divides it");
}
}  // namespace

Qwen3LocalDims make_local_dims(const Qwen3Config& c, int tp_rank, int tp_size) {
  SW_CHECK(tp_size >= 1 && tp_rank >= 0 && tp_rank < tp_size, "tp rank ", tp_rank, " of ", tp_size);
  require_divisible("num_key_value_heads", c.num_kv_heads, tp_size);
  require_divisible("num_attention_heads", c.num_heads, tp_size);
  require_divisible("intermediate_size", c.intermediate_size, tp_size);
  Qwen3LocalDims d;
  d.hidden = c.hidden_size;
  d.head_dim = c.head_dim;
  d.heads = c.num_heads / tp_size;
  d.kv_heads = c.num_kv_heads / tp_size;
  d.ffn = c.intermediate_size / tp_size;
  const int64_t chunk = (c.vocab_size + tp_size - 1) / tp_size;
  d.vocab_start = std::min<int64_t>(c.vocab_size, chunk * tp_rank);
  d.vocab = std::min<int64_t>(c.vocab_size, d.vocab_start + chunk) - d.vocab_start;
  d.layers = c.num_layers;
  d.tp_rank = tp_rank;
  d.tp_size = tp_size;
  return d;
}

}  // namespace stepwise
