// Planned allocation: tensors are declared first (shape, dtype), then carved out of one block.
// The model's parameters, gradients and activations each come from one allocation, as in llm.c,
// so memory use is known before the first step and nothing is allocated on the hot path.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"

namespace stepwise {

class ArenaPlan {
 public:
  // Records that *slot will receive a tensor of this shape and dtype when allocate() runs.
  void add(Tensor* slot, Shape shape, DType dtype);
  size_t bytes() const { return bytes_; }
  // The bytes a slot of `bytes` takes in the block: views start 256-byte aligned.
  static size_t slot_bytes(size_t bytes) { return (bytes + 255) / 256 * 256; }
  // One allocation on `device`, zeroed; every slot is set to its view. Returns the owner of the block.
  std::shared_ptr<void> allocate(Device device);

 private:
  struct Entry {
    Tensor* slot;
    Shape shape;
    DType dtype;
    size_t offset;
  };
  std::vector<Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace stepwise
