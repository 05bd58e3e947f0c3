// CUDA cross-entropy over an f32 logits chunk [N, V_local] (the LM head forms logits a chunk of rows at a time and
// never holds [tokens, vocab] whole): row max, sum of exponentials with the target's logit, and the gradient in
// place. One block per row: a row is a whole vocabulary (~152k), so a block streams it with float4 loads, and a
// chunk has enough rows (1024) to fill the GPU. Sums accumulate in double, as the CPU reference does.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kThreads = 512;

// V = 4 reads float4s when the row length and base allow (every row then stays 16-byte aligned).
template <int V>
__global__ void row_max_kernel(float* row_max, const float* logits, int64_t v) {
  const float* x = logits + blockIdx.x * v;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x * int64_t{V}; i < v; i += kThreads * V) {
    const Pack<float, V> a = load_pack<float, V>(x + i);
#pragma unroll
    for (int j = 0; j < V; ++j) m = fmaxf(m, a.e[j]);
  }
  m = block_reduce(m, [](float a, float b) { return fmaxf(a, b); });
  if (threadIdx.x == 0) row_max[blockIdx.x] = m;
}

template <int V>
__global__ void sum_exp_kernel(float* sum_exp, float* target_logit, const float* logits, const float* row_max,
                               const int32_t* targets, int64_t v, int64_t vocab_start) {
  const int64_t r = blockIdx.x;
  const float* x = logits + r * v;
  const float m = row_max[r];
  double s = 0;
  for (int64_t i = threadIdx.x * int64_t{V}; i < v; i += kThreads * V) {
    const Pack<float, V> a = load_pack<float, V>(x + i);
#pragma unroll
    for (int j = 0; j < V; ++j) s += expf(a.e[j] - m);
  }
  s = block_reduce(s, [](double a, double b) { return a + b; });
  if (threadIdx.x == 0) {
    sum_exp[r] = static_cast<float>(s);
    const int64_t col = int64_t{targets[r]} - vocab_start;
    target_logit[r] = (targets[r] >= 0 && col >= 0 && col < v) ? x[col] : 0.0f;
  }
}

template <int V>
__global__ void cross_entropy_backward_kernel(float* logits, const float* row_max, const float* sum_exp,
                                              const int32_t* targets, int64_t v, int64_t vocab_start,
                                              float grad_scale) {
  const int64_t r = blockIdx.x;
  float* x = logits + r * v;
  const int32_t target = targets[r];
  const float m = row_max[r], k = grad_scale / sum_exp[r];
  const int64_t col = int64_t{target} - vocab_start;
  for (int64_t i = threadIdx.x * int64_t{V}; i < v; i += kThreads * V) {
    Pack<float, V> a = load_pack<float, V>(x + i);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      a.e[j] = target < 0 ? 0.0f : expf(a.e[j] - m) * k;  // masked rows get no gradient
      if (target >= 0 && i + j == col) a.e[j] -= grad_scale;
    }
    store_pack<float, V>(x + i, a);
  }
}

bool packed_rows(const Tensor& logits) { return vectorizable<float>(logits.size(1), {logits.data()}); }

}  // namespace

void cross_entropy_row_max(Tensor& row_max, const Tensor& logits) {
  expect_dtype("cross_entropy_row_max", "logits", logits, DType::kF32);
  const unsigned n = static_cast<unsigned>(logits.size(0));
  const int64_t v = logits.size(1);
  if (n == 0) return;
  if (packed_rows(logits))
    row_max_kernel<4><<<n, kThreads, 0, stream()>>>(ptr<float>(row_max), ptr<const float>(logits), v);
  else
    row_max_kernel<1><<<n, kThreads, 0, stream()>>>(ptr<float>(row_max), ptr<const float>(logits), v);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_sum_exp(Tensor& sum_exp, Tensor& target_logit, const Tensor& logits, const Tensor& row_max,
                           const Tensor& targets, int64_t vocab_start) {
  expect_dtype("cross_entropy_sum_exp", "logits", logits, DType::kF32);
  const unsigned n = static_cast<unsigned>(logits.size(0));
  const int64_t v = logits.size(1);
  if (n == 0) return;
  if (packed_rows(logits))
    sum_exp_kernel<4><<<n, kThreads, 0, stream()>>>(ptr<float>(sum_exp), ptr<float>(target_logit),
                                                    ptr<const float>(logits), ptr<const float>(row_max),
                                                    ptr<const int32_t>(targets), v, vocab_start);
  else
    sum_exp_kernel<1><<<n, kThreads, 0, stream()>>>(ptr<float>(sum_exp), ptr<float>(target_logit),
                                                    ptr<const float>(logits), ptr<const float>(row_max),
                                                    ptr<const int32_t>(targets), v, vocab_start);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_backward(Tensor& logits, const Tensor& row_max, const Tensor& sum_exp, const Tensor& targets,
                            int64_t vocab_start, float grad_scale) {
  expect_dtype("cross_entropy_backward", "logits", logits, DType::kF32);
  const unsigned n = static_cast<unsigned>(logits.size(0));
  const int64_t v = logits.size(1);
  if (n == 0) return;
  if (packed_rows(logits))
    cross_entropy_backward_kernel<4><<<n, kThreads, 0, stream()>>>(ptr<float>(logits), ptr<const float>(row_max),
                                                                   ptr<const float>(sum_exp),
                                                                   ptr<const int32_t>(targets), v, vocab_start,
                                                                   grad_scale);
  else
    cross_entropy_backward_kernel<1><<<n, kThreads, 0, stream()>>>(ptr<float>(logits), ptr<const float>(row_max),
                                                                   ptr<const float>(sum_exp),
                                                                   ptr<const int32_t>(targets), v, vocab_start,
                                                                   grad_scale);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
