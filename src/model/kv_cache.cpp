// KvCache and PagedKvCache allocation: every layer's keys and values in one block.
#include "model/kv_cache.h"

#include "core/arena.h"
#include "core/status.h"

namespace stepwise {

KvCache KvCache::create(const Qwen3LocalDims& d, int64_t capacity, DType dtype, Device device) {
  KvCache c;
  c.capacity = capacity;
  c.k.resize(static_cast<size_t>(d.layers));
  c.v.resize(static_cast<size_t>(d.layers));
  ArenaPlan plan;
  for (int64_t l = 0; l < d.layers; ++l) {
    plan.add(&c.k[l], {capacity, d.kv_heads, d.head_dim}, dtype);
    plan.add(&c.v[l], {capacity, d.kv_heads, d.head_dim}, dtype);
  }
  c.block = plan.allocate(device);
  return c;
}

PagedKvCache PagedKvCache::create(const Qwen3LocalDims& d, int64_t num_blocks, int64_t block_size, DType dtype,
                                  Device device) {
  SW_CHECK(num_blocks > 0 && block_size > 0, "PagedKvCache of ", num_blocks, " blocks of ", block_size);
  PagedKvCache c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.k.resize(static_cast<size_t>(d.layers));
  c.v.resize(static_cast<size_t>(d.layers));
  ArenaPlan plan;
  for (int64_t l = 0; l < d.layers; ++l) {
    plan.add(&c.k[l], {num_blocks * block_size, d.kv_heads, d.head_dim}, dtype);
    plan.add(&c.v[l], {num_blocks * block_size, d.kv_heads, d.head_dim}, dtype);
  }
  c.block = plan.allocate(device);
  return c;
}

int64_t PagedKvCache::bytes_per_block(const Qwen3LocalDims& d, int64_t block_size, DType dtype) {
  return 2 * d.layers * block_size * d.kv_heads * d.head_dim * static_cast<int64_t>(dtype_size(dtype));
}

void PagedKvCache::copy_block(int64_t src, int64_t dst) {
  SW_CHECK(src >= 0 && src < num_blocks && dst >= 0 && dst < num_blocks && src != dst, "copy_block ", src, " -> ",
           dst, " in a pool of ", num_blocks);
  for (std::vector<Tensor>* pool : {&k, &v})
    for (Tensor& t : *pool) {
      Tensor d = t.rows(dst * block_size, (dst + 1) * block_size);
      d.copy_from(t.rows(src * block_size, (src + 1) * block_size));
    }
}

}  // namespace stepwise
