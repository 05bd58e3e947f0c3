// The CUDA backend's shared state: the stream every kernel and cuBLASLt call is issued on, the cuBLASLt handle,
// grow-only device scratch for the ops that need temporary memory, and the SM count that sizes grids.
// One process drives one GPU (multi-GPU runs are one rank per GPU), so this state is per process.
#pragma once

#include <cstddef>

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace stepwise::kernels::cuda {

// The stream this thread issues kernels on: the legacy default stream, where core/memory.cpp's cudaMemcpy and
// cudaMemset run as well, so uploads, kernels and downloads are ordered without further synchronisation. While the
// thread records a graph (kernels/op_graph.h) it is the graph's own stream instead, as the legacy stream cannot be
// captured.
cudaStream_t stream();
// Sets this thread's stream (0: the legacy default stream again); kernels/cuda/graph.cpp's capture uses it.
void set_thread_stream(cudaStream_t s);

cublasLtHandle_t cublaslt();
int sm_count();

// Device scratch an op needs only while it runs. Each slot grows to the largest request seen (the first steps of a
// run) and is then reused; ops on one stream never overlap, so one buffer per slot is enough. A slot grows at least
// twofold and keeps its old buffers for the life of the process: a kernel still in flight, or a recorded graph
// (kernels/op_graph.h), may use them, and twofold growth bounds the retired memory by the slot's final size.
enum class Scratch { kCublasWorkspace, kPartials, kIndex, kAttention, kCount };
void* scratch(Scratch slot, size_t bytes);

}  // namespace stepwise::kernels::cuda
