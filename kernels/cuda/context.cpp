// The thread's stream, the cuBLASLt handle, the SM count, and the scratch buffers of kernels/cuda/cuda_context.h.
#include "kernels/cuda/cuda_context.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "core/memory.h"
#include "kernels/cuda/cuda_check.h"

namespace stepwise::kernels::cuda {

namespace {
std::mutex g_mutex;
thread_local cudaStream_t t_stream = 0;
}  // namespace

cudaStream_t stream() { return t_stream; }

void set_thread_stream(cudaStream_t s) { t_stream = s; }

cublasLtHandle_t cublaslt() {
  // Created on first use and kept for the life of the process (destroying it at exit could run after the driver
  // has shut down).
  static cublasLtHandle_t handle = [] {
    cublasLtHandle_t h = nullptr;
    CUBLAS_CHECK(cublasLtCreate(&h));
    return h;
  }();
  return handle;
}

int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return count;
}

void* scratch(Scratch slot, size_t bytes) {
  struct Buffer {
    std::shared_ptr<void> block;
    size_t bytes = 0;
    std::vector<std::shared_ptr<void>> retired;  // never freed: see cuda_context.h
  };
  static Buffer* buffers = new Buffer[static_cast<int>(Scratch::kCount)];  // never destroyed, as the handle
  std::lock_guard<std::mutex> lock(g_mutex);
  Buffer& b = buffers[static_cast<int>(slot)];
  if (b.bytes < bytes) {
    if (b.block) b.retired.push_back(std::move(b.block));
    b.bytes = std::max(bytes, 2 * b.bytes);
    b.block = allocate_bytes(b.bytes, Device::kCUDA);
  }
  return b.block.get();
}

}  // namespace stepwise::kernels::cuda
