// CUDA greedy choice over f32 logit rows [N, V]: ids[r] = the lowest column holding row r's largest value among the
// first `columns`, so that a decode step copies N ids to the host instead of N rows of ~152k logits. One block per
// row, as cross_entropy.cu: a row is a whole vocabulary, streamed with float4 loads when the rows allow. A step has
// few rows (its batch, often fewer than the SMs), so a block has 1024 threads to keep more of its row's loads in
// flight.
// NaN never compares greater, so a NaN is never chosen: the result is the first maximum of the row's other values,
// and 0 when all of them are NaN. The CPU reference (kernels/cpu/argmax.cpp) agrees except when column 0 is NaN,
// where it returns 0.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kThreads = 1024;

struct Best {
  float value;
  int index;
};

// The larger value; of equal values, the lower column.
__device__ __forceinline__ Best better(Best a, Best b) {
  return b.value > a.value || (b.value == a.value && b.index < a.index) ? b : a;
}

// V = 4 reads float4s when the row length and base allow (every row then stays 16-byte aligned; a pack that starts
// before `columns` ends inside the row).
template <int V>
__global__ void argmax_kernel(int32_t* ids, const float* logits, int64_t v, int columns) {
  const float* x = logits + blockIdx.x * v;
  // (-inf, 0) loses to any larger value, and wins only when the row's maximum is -inf, where column 0 is the answer.
  Best best{-INFINITY, 0};
  for (int i = threadIdx.x * V; i < columns; i += kThreads * V) {
    const Pack<float, V> a = load_pack<float, V>(x + i);
#pragma unroll
    for (int j = 0; j < V; ++j)
      if (i + j < columns && a.e[j] > best.value) best = {a.e[j], i + j};  // strict: a thread's tie keeps its first
  }
  for (int o = kWarp / 2; o > 0; o >>= 1)
    best = better(best, {__shfl_xor_sync(0xffffffffu, best.value, o), __shfl_xor_sync(0xffffffffu, best.index, o)});
  __shared__ Best partial[kThreads / kWarp];
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = best;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kThreads / kWarp; ++w) best = better(best, partial[w]);  // warp 0's result is partial[0]
  ids[blockIdx.x] = best.index;
}

}  // namespace

void argmax_rows(Tensor& ids, const Tensor& logits, int64_t columns) {
  const unsigned n = static_cast<unsigned>(logits.size(0));
  const int64_t v = logits.size(1);
  if (n == 0) return;
  if (vectorizable<float>(v, {logits.data()}))
    argmax_kernel<4>
        <<<n, kThreads, 0, stream()>>>(ptr<int32_t>(ids), ptr<const float>(logits), v, static_cast<int>(columns));
  else
    argmax_kernel<1>
        <<<n, kThreads, 0, stream()>>>(ptr<int32_t>(ids), ptr<const float>(logits), v, static_cast<int>(columns));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
