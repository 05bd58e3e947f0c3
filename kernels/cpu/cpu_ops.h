// CPU reference kernels (fp32, OpenMP + OpenBLAS): same signatures as kernels/ops.h, without the
// operand checks the dispatcher already did. These define what the CUDA kernels must compute.
#pragma once

#include "kernels/ops.h"

namespace stepwise::kernels::cpu {

// Loops over fewer elements than this run on one thread: an OpenMP fork/join costs microseconds (far more when
// cores are shared), which would dominate small ops such as a decode step's.
constexpr int64_t kParallelMinWork = int64_t{1} << 15;

#include "kernels/backend_ops.inc"
}  // namespace stepwise::kernels::cpu
