// CPU SwiGLU on the fused gate/up projection, forward and backward.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void swiglu_forward(Tensor& out, const Tensor& gate_up) {
  const int64_t n = out.size(0), f = out.size(1);
  const float* gu = gate_up.data_as<float>();
  float* o = out.data_as<float>();
#pragma omp parallel for schedule(static) if (n * f > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gu + r * 2 * f;
    const float* u = g + f;
    float* orow = o + r * f;
    for (int64_t i = 0; i < f; ++i) orow[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

// silu(g) = g * sig(g); silu'(g) = sig(g) * (1 + g * (1 - sig(g))).
void swiglu_backward(Tensor& dgate_up, const Tensor& dout, const Tensor& gate_up) {
  const int64_t n = dout.size(0), f = dout.size(1);
  const float* gu = gate_up.data_as<float>();
  const float* d = dout.data_as<float>();
  float* dgu = dgate_up.data_as<float>();
#pragma omp parallel for schedule(static) if (n * f > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    const float* g = gu + r * 2 * f;
    const float* u = g + f;
    const float* dr = d + r * f;
    float* dg = dgu + r * 2 * f;
    float* du = dg + f;
    for (int64_t i = 0; i < f; ++i) {
      const float sig = 1.0f / (1.0f + std::exp(-g[i]));
      const float silu = g[i] * sig;
      du[i] = dr[i] * silu;
      dg[i] = dr[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
    }
  }
}

}  // namespace stepwise::kernels::cpu
