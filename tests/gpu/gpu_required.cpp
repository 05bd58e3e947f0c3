// gpu_required.h: asks the CUDA runtime directly (not core's cuda_available(), which says only yes or no), so that a
// failing check reports the runtime's reason.
#include "gpu_required.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

namespace stepwise::testing {

std::string gpu_unusable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess)
    return std::string("no usable CUDA GPU: cudaGetDeviceCount failed with ") + cudaGetErrorName(err) + " (" +
           cudaGetErrorString(err) + ")";
  if (n == 0) return "no usable CUDA GPU: cudaGetDeviceCount found no device";
  return "";
}

bool gpu_checks_running() {
  const char* v = std::getenv("STEPWISE_GPU_CHECKS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace stepwise::testing
