// KvCache allocation: every layer's keys and values in one block.
#include "model/kv_cache.h"

#include "core/arena.h"

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

}  // namespace stepwise
