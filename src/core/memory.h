// Raw memory on a device: allocation (256-byte aligned, as cudaMalloc) and copies between devices.
// The only place in core that touches the CUDA runtime, so that a CPU-only build needs no CUDA at all.
#pragma once

#include <cstddef>
#include <memory>

#include "core/dtype.h"

namespace stepwise {

bool cuda_available();  // built with CUDA and a device is present
// Free bytes of the current CUDA device (sizing the serving engine's KV cache); FAILED_PRECONDITION without CUDA.
size_t cuda_free_bytes();

// Memory freed when the last owner goes away.
std::shared_ptr<void> allocate_bytes(size_t bytes, Device device);
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void zero_bytes(void* dst, Device device, size_t bytes);

}  // namespace stepwise
