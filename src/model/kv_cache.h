// KV storage for decoding. KvCache: the keys and values of one sequence, per layer, in contiguous rows
// [capacity, Hkv_local, hd]; rows [0, length) are filled. PagedKvCache: the serving engine's pool of fixed-size
// blocks shared by many sequences, per layer [num_blocks * block_size, Hkv_local, hd]; which sequence owns which
// block is the engine's bookkeeping (infer/kv_block_pool.h), the layout is kernels/ops.h's PagedLayout.
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

struct PagedKvCache {
  std::vector<Tensor> k, v;  // per layer
  int64_t num_blocks = 0, block_size = 0;
  std::shared_ptr<void> block;

  static PagedKvCache create(const Qwen3LocalDims& dims, int64_t num_blocks, int64_t block_size, DType dtype,
                             Device device);
  // Bytes of one block over every layer, keys and values (sizing the pool from a memory budget).
  static int64_t bytes_per_block(const Qwen3LocalDims& dims, int64_t block_size, DType dtype);
  // Block dst takes block src's keys and values in every layer (copy on write of a shared block).
  void copy_block(int64_t src, int64_t dst);
};

}  // namespace stepwise
