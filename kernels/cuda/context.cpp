// The cuBLASLt handle, the SM count, and the scratch buffers of kernels/cuda/cuda_context.h.
#include "kernels/cuda/cuda_context.h"

#include <memory>
#include <mutex>

#include "core/memory.h"
#include "kernels/cuda/cuda_check.h"

namespace stepwise::kernels::cuda {

namespace {
std::mutex g_mutex;
}  // namespace

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
  };
  static Buffer buffers[static_cast<int>(Scratch::kCount)];
  std::lock_guard<std::mutex> lock(g_mutex);
  Buffer& b = buffers[static_cast<int>(slot)];
  if (b.bytes < bytes) {
    // Queued kernels may still use the old buffer (cudaFree is documented only as possibly synchronising); growth is
    // rare, the first steps of a run.
    if (b.block) CUDA_CHECK(cudaStreamSynchronize(stream()));
    b.block.reset();  // free first: the old and new buffers need not coexist
    b.block = allocate_bytes(bytes, Device::kCUDA);
    b.bytes = bytes;
  }
  return b.block.get();
}

}  // namespace stepwise::kernels::cuda
