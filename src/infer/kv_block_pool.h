// KvBlockPool: which blocks of a PagedKvCache are free, and how many sequences share each of the others. Blocks are
// reference-counted so that the n samples of one request share their prompt's blocks; a block goes back to the free
// list the moment its last holder releases it (a sequence that ends, is cancelled or is preempted). The free list
// is a stack, so the same sequence of requests always gets the same blocks (reproducible runs and tests).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace stepwise {

class KvBlockPool {
 public:
  explicit KvBlockPool(int64_t num_blocks);

  int64_t num_blocks() const { return static_cast<int64_t>(refs_.size()); }
  int64_t num_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t num_used() const { return num_blocks() - num_free(); }

  std::optional<int32_t> allocate();  // a free block with one holder, or nothing when none is free
  void retain(int32_t block);         // one more holder of a block in use
  void release(int32_t block);        // one holder fewer; free at zero
  int32_t holders(int32_t block) const;

 private:
  void check_in_use(int32_t block, const char* op) const;
  std::vector<int32_t> refs_;  // holders per block; 0 = free
  std::vector<int32_t> free_;
};

// Blocks needed to hold `tokens` tokens.
inline int64_t blocks_for(int64_t tokens, int64_t block_size) { return (tokens + block_size - 1) / block_size; }

}  // namespace stepwise
