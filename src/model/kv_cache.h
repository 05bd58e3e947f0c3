// KvCache: the keys and values of one sequence, per layer, for incremental decoding. Contiguous rows
// [capacity, Hkv_local, hd]; rows [0, length) are filled. (The serving engine's paged cache is in src/infer.)
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"
#include "model/qwen3_partition.h"

namespace stepwise {

struct KvCache {
  std::vector<Tensor> k, v;  // per layer
  int64_t length = 0;
  int64_t capacity = 0;
  std::shared_ptr<void> block;

  static KvCache create(const Qwen3LocalDims& dims, int64_t capacity, DType dtype, Device device);
};

}  // namespace stepwise
