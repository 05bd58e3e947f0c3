// CUDA AdamW on f32 master weights, in the CPU reference's operation order (decay, moments, bias-corrected step),
// writing the compute copy (bf16 parameters) in the same pass when there is one.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

struct AdamWScalars {
  float beta1, beta2, eps, grad_scale, step_size, bc2_sqrt, decay;
};

// Memory-bound: 4 f32 streams read, 3 written (+ the copy); one element per thread-iteration keeps every access
// coalesced, which is what matters here.
template <class C>
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, C* copy, AdamWScalars s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float gi = g[i] * s.grad_scale;
    const float mi = s.beta1 * m[i] + (1.0f - s.beta1) * gi;
    const float vi = s.beta2 * v[i] + (1.0f - s.beta2) * gi * gi;
    const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
    const float pi = p[i] * s.decay - s.step_size * mi / denom;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    if (copy) copy[i] = from_float<C>(pi);
  }
}

}  // namespace

void adamw_step(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v, Tensor* param_copy, const AdamWHyper& hp,
                int64_t step, float grad_scale) {
  for (const Tensor* t : std::initializer_list<const Tensor*>{&master, &grad, &m, &v})
    expect_dtype("adamw_step", "optimizer state", *t, DType::kF32);
  const int64_t n = master.numel();
  if (n == 0) return;
  // Bias corrections on the host in double, rounded as the CPU reference rounds them.
  const double bc1 = 1.0 - std::pow(static_cast<double>(hp.beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(hp.beta2), static_cast<double>(step));
  const AdamWScalars s{hp.beta1,
                       hp.beta2,
                       hp.eps,
                       grad_scale,
                       static_cast<float>(hp.lr / bc1),
                       static_cast<float>(std::sqrt(bc2)),
                       1.0f - hp.lr * hp.weight_decay};
  constexpr int kThreads = 256;
  const unsigned blocks = grid_for(n, kThreads);
  float* p = ptr<float>(master);
  const DType copy_dtype = param_copy ? param_copy->dtype() : DType::kF32;
  dispatch_float<true>(copy_dtype, "adamw_step (parameter copy)", [&](auto tag) {
    using C = decltype(tag);
    C* copy = param_copy ? ptr<C>(*param_copy) : nullptr;
    adamw_kernel<C><<<blocks, kThreads, 0, stream()>>>(p, ptr<const float>(grad), ptr<float>(m), ptr<float>(v), copy,
                                                       s, n);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
