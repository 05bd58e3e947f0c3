// ArenaPlan: one allocation, 256-byte aligned views (cuBLASLt and vector loads like aligned operands).
#include "core/arena.h"

#include "core/memory.h"

namespace stepwise {

void ArenaPlan::add(Tensor* slot, Shape shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  entries_.push_back({slot, std::move(shape), dtype, bytes_});
  bytes_ += slot_bytes(bytes);
}

std::shared_ptr<void> ArenaPlan::allocate(Device device) {
  auto block = allocate_bytes(bytes_, device);
  zero_bytes(block.get(), device, bytes_);
  for (Entry& e : entries_)
    *e.slot = Tensor(static_cast<char*>(block.get()) + e.offset, e.shape, e.dtype, device, block);
  return block;
}

}  // namespace stepwise
