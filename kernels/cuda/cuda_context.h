// The CUDA backend's shared state: the stream every kernel and cuBLASLt call is issued on, the cuBLASLt handle,
// grow-only device scratch for the ops that need temporary memory, pinned host staging for their uploads, and the
// SM count that sizes grids.
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
// run) and is then reused; ops on one stream never overlap, so one buffer per slot is enough. Growing frees the old
// buffer, and cudaFree waits for the device, so no kernel still in flight loses its scratch.
enum class Scratch { kCublasWorkspace, kPartials, kIndex, kAttention, kCount };
void* scratch(Scratch slot, size_t bytes);

// Pinned (page-locked) host memory that an op writes and then uploads with cudaMemcpyAsync: the copy reads it
// after the call returns, so the source must outlive the op (a local vector would not), and only from pinned memory
// is the copy truly asynchronous. Grow-only and kept for the process; one buffer, so the caller must have
// synchronised the stream since its previous upload from it before writing it again (embedding_backward, the only
// user, synchronises at its start to download the token ids).
void* pinned_staging(size_t bytes);

}  // namespace stepwise::kernels::cuda
