// CUDA kernels (bf16 compute, fp32 accumulation; cuBLASLt): same signatures as kernels/ops.h, without the
// operand checks the dispatcher already did. Each is checked against its CPU reference by tests/gpu.
#pragma once

#include "kernels/ops.h"

namespace stepwise::kernels::cuda {
#include "kernels/backend_ops.inc"
}  // namespace stepwise::kernels::cuda
