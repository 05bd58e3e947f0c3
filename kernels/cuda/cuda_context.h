// The CUDA backend's shared state: the stream every kernel and cuBLASLt call is issued on, the cuBLASLt handle,
// grow-only device scratch for the ops that need temporary memory, and the SM count that sizes grids.
// One process drives one GPU (multi-GPU runs are one rank per GPU), so this state is per process.
#pragma once

#include <cstddef>

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace stepwise::kernels::cuda {

// The legacy default stream: core/memory.cpp's cudaMemcpy and cudaMemset run on it as well, so uploads, kernels
// and downloads are ordered without further synchronisation.
inline cudaStream_t stream() { return 0; }

cublasLtHandle_t cublaslt();
int sm_count();

// Device scratch an op needs only while it runs. Each slot grows to the largest request seen (the first steps of a
// run) and is then reused; ops on one stream never overlap, so one buffer per slot is enough. Growing synchronises
// the stream before freeing the old buffer, so no kernel still in flight loses its scratch; a CUDA graph can thus
// capture an op only once its slot has grown to the size the op asks for.
enum class Scratch { kCublasWorkspace, kPartials, kIndex, kAttention, kCount };
void* scratch(Scratch slot, size_t bytes);

}  // namespace stepwise::kernels::cuda
