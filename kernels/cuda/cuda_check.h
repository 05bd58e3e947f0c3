// CUDA_CHECK / CUBLAS_CHECK, after llm.c's cudaCheck: a failed CUDA runtime or cuBLASLt call throws a StatusError
// naming file:line, the call and a hint at the usual cause, so the CLI prints one line and tests see the error.
// Kernel launches are followed by CUDA_CHECK(cudaGetLastError()), which reports bad launch configurations at the
// launch site; faults inside a kernel surface at the next synchronising call (run compute-sanitizer to place them).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace stepwise::kernels::cuda {

[[noreturn]] void fail_cuda(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace stepwise::kernels::cuda

#define CUDA_CHECK(expr)                                                             \
  do {                                                                               \
    const cudaError_t sw_err_ = (expr);                                              \
    if (sw_err_ != cudaSuccess)                                                      \
      ::stepwise::kernels::cuda::fail_cuda(sw_err_, #expr, __FILE__, __LINE__);      \
  } while (0)

#define CUBLAS_CHECK(expr)                                                           \
  do {                                                                               \
    const cublasStatus_t sw_st_ = (expr);                                            \
    if (sw_st_ != CUBLAS_STATUS_SUCCESS)                                             \
      ::stepwise::kernels::cuda::fail_cublas(sw_st_, #expr, __FILE__, __LINE__);     \
  } while (0)
