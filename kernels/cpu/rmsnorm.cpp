// CPU RMSNorm forward and backward (row statistics in double).
#include <cmath>
#include <vector>

#include <omp.h>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void rmsnorm_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  const int64_t n = x.size(0), d = x.size(1);
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  float* yp = y.data_as<float>();
  float* rp = rstd.data_as<float>();
#pragma omp parallel for schedule(static) if (n * d > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = xp + r * d;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float s = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    rp[r] = s;
    float* yr = yp + r * d;
    for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * s * wp[i];
  }
}

// The reference is the unfused pair: the fusion only saves memory passes on the GPU.
void add_rmsnorm_forward(Tensor& sum, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  add(sum, x, 1.0f);
  rmsnorm_forward(y, rstd, sum, w, eps);
}

// y = x * s * w with s = (mean(x^2) + eps)^-1/2:
//   dx = s * (dy * w) - s^3 / D * x * sum(dy * w * x),  dw += dy * x * s.
void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, bool accumulate_dx) {
  const int64_t n = x.size(0), d = x.size(1);
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  const float* dyp = dy.data_as<float>();
  const float* rp = rstd.data_as<float>();
  float* dxp = dx.data_as<float>();
  float* dwp = dw.data_as<float>();
  const int threads = omp_get_max_threads();
  std::vector<double> dw_partial(static_cast<size_t>(threads) * d, 0.0);
#pragma omp parallel if (n * d > kParallelMinWork)
  {
    double* dwt = dw_partial.data() + static_cast<size_t>(omp_get_thread_num()) * d;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = xp + r * d;
      const float* dyr = dyp + r * d;
      float* dxr = dxp + r * d;
      const double s = rp[r];
      double dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(dyr[i]) * wp[i] * xr[i];
      const double c = s * s * s * dot / static_cast<double>(d);
      for (int64_t i = 0; i < d; ++i) {
        const float g = static_cast<float>(s * dyr[i] * wp[i] - c * xr[i]);
        dwt[i] += static_cast<double>(dyr[i]) * xr[i] * s;
        dxr[i] = accumulate_dx ? dxr[i] + g : g;
      }
    }
  }
  for (int t = 0; t < threads; ++t)
    for (int64_t i = 0; i < d; ++i) dwp[i] += static_cast<float>(dw_partial[static_cast<size_t>(t) * d + i]);
}

}  // namespace stepwise::kernels::cpu
