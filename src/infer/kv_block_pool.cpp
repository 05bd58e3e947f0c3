// KvBlockPool: reference counts and the free list.
#include "infer/kv_block_pool.h"

#include "core/status.h"

namespace stepwise {

KvBlockPool::KvBlockPool(int64_t num_blocks) : refs_(static_cast<size_t>(num_blocks), 0) {
  SW_CHECK(num_blocks > 0 && num_blocks <= INT32_MAX, "KvBlockPool of ", num_blocks, " blocks");
  free_.reserve(refs_.size());
  // Stack order: block 0 is handed out first.
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

std::optional<int32_t> KvBlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void KvBlockPool::check_in_use(int32_t block, const char* op) const {
  SW_CHECK(block >= 0 && block < num_blocks() && refs_[block] > 0, "KvBlockPool::", op, " of block ", block,
           " which is not in use");
}

void KvBlockPool::retain(int32_t block) {
  check_in_use(block, "retain");
  ++refs_[block];
}

void KvBlockPool::release(int32_t block) {
  check_in_use(block, "release");
  if (--refs_[block] == 0) free_.push_back(block);
}

int32_t KvBlockPool::holders(int32_t block) const {
  SW_CHECK(block >= 0 && block < num_blocks(), "KvBlockPool block ", block);
  return refs_[block];
}

}  // namespace stepwise
