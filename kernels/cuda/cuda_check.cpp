// Error reporting for CUDA_CHECK / CUBLAS_CHECK: the failed call, its place and a hint at the usual cause.
#include "kernels/cuda/cuda_check.h"

#include "core/status.h"

namespace stepwise::kernels::cuda {

namespace {

const char* cuda_hint(cudaError_t err) {
  switch (err) {
    case cudaErrorMemoryAllocation:
      return "the GPU is out of memory: lower the micro-batch tokens or set recompute_activations";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "no usable GPU: check nvidia-smi and that the driver supports CUDA 13";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      return "the binary was built for another GPU: rebuild with -DCMAKE_CUDA_ARCHITECTURES=<this card's sm>";
    case cudaErrorIllegalAddress:
    case cudaErrorMisalignedAddress:
      return "a kernel accessed memory out of bounds: rerun under `compute-sanitizer --tool memcheck` to find it";
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidValue:
      return "a kernel launch or call got an invalid size: a bug in stepwise (report the shapes)";
    default:
      return "errors from earlier asynchronous kernels surface at the next synchronising call";
  }
}

const char* cublas_hint(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLASLt could not start: check the driver and libcublasLt.so.13";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the GPU is out of memory";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "no cuBLASLt kernel for these dtypes, shapes or alignments";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid matrix layout: a bug in stepwise (report the shapes)";
    default: return "see the cuBLASLt documentation for this status";
  }
}

}  // namespace

void fail_cuda(cudaError_t err, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so that later calls report their own status
  fail(err == cudaErrorMemoryAllocation ? StatusCode::kResourceExhausted
       : (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) ? StatusCode::kFailedPrecondition
                                                                           : StatusCode::kInternal,
       file, ":", line, ": ", call, " failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), "); ",
       cuda_hint(err));
}

void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  fail(status == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::kResourceExhausted : StatusCode::kInternal, file, ":", line,
       ": ", call, " failed: ", cublasLtGetStatusName(status), " (", cublasLtGetStatusString(status), "); ",
       cublas_hint(status));
}

}  // namespace stepwise::kernels::cuda
