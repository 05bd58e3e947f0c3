// Device memory: aligned host allocations and, when built with CUDA, cudaMalloc/cudaMemcpy.
#include "core/memory.h"

#include <cstdlib>
#include <cstring>

#include "core/status.h"

#ifdef STEPWISE_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace stepwise {

namespace {
#ifdef STEPWISE_HAS_CUDA
void cuda_ok(cudaError_t err, const char* what, size_t bytes) {
  if (err != cudaSuccess)
    fail(err == cudaErrorMemoryAllocation ? StatusCode::kResourceExhausted : StatusCode::kInternal, what, " (",
         bytes, " bytes) failed: ", cudaGetErrorString(err));
}
#else
[[noreturn]] void no_cuda(const char* what) {
  fail(StatusCode::kFailedPrecondition, what,
       ": this build of stepwise has no CUDA backend (rebuild with -DSTEPWISE_CUDA=ON on a machine with nvcc)");
}
#endif
}  // namespace

bool cuda_available() {
#ifdef STEPWISE_HAS_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

size_t cuda_free_bytes() {
#ifdef STEPWISE_HAS_CUDA
  size_t free = 0, total = 0;
  cuda_ok(cudaMemGetInfo(&free, &total), "cudaMemGetInfo", 0);
  return free;
#else
  no_cuda("cuda_free_bytes");
#endif
}

std::shared_ptr<void> allocate_bytes(size_t bytes, Device device) {
  if (bytes == 0) bytes = 64;
  if (device == Device::kCPU) {
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p) fail(StatusCode::kResourceExhausted, "host allocation of ", bytes, " bytes failed");
    return std::shared_ptr<void>(p, std::free);
  }
#ifdef STEPWISE_HAS_CUDA
  void* p = nullptr;
  cuda_ok(cudaMalloc(&p, bytes), "cudaMalloc", bytes);
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
#else
  no_cuda("allocating device memory");
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::kCPU && src_device == Device::kCPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef STEPWISE_HAS_CUDA
  cuda_ok(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy", bytes);
#else
  no_cuda("copying to or from device memory");
#endif
}

void zero_bytes(void* dst, Device device, size_t bytes) {
  if (device == Device::kCPU) {
    std::memset(dst, 0, bytes);
    return;
  }
#ifdef STEPWISE_HAS_CUDA
  cuda_ok(cudaMemset(dst, 0, bytes), "cudaMemset", bytes);
#else
  no_cuda("zeroing device memory");
#endif
}

}  // namespace stepwise
