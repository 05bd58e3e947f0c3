// CPU AdamW on f32 master weights, in PyTorch's operation order (decay, moments, bias-corrected step).
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void adamw_step(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v, Tensor* param_copy, const AdamWHyper& hp,
                int64_t step, float grad_scale) {
  const int64_t n = master.numel();
  float* p = master.data_as<float>();
  const float* g = grad.data_as<float>();
  float* mp = m.data_as<float>();
  float* vp = v.data_as<float>();
  const double bc1 = 1.0 - std::pow(static_cast<double>(hp.beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(hp.beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(hp.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = 1.0f - hp.lr * hp.weight_decay;
#pragma omp parallel for simd schedule(static) if (n > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * grad_scale;
    mp[i] = hp.beta1 * mp[i] + (1.0f - hp.beta1) * gi;
    vp[i] = hp.beta2 * vp[i] + (1.0f - hp.beta2) * gi * gi;
    const float denom = std::sqrt(vp[i]) / bc2_sqrt + hp.eps;
    p[i] = p[i] * decay - step_size * mp[i] / denom;
  }
  if (param_copy) convert_floats(param_copy->data(), param_copy->dtype(), p, DType::kF32, n);
}

}  // namespace stepwise::kernels::cpu
