// CPU elementwise helpers: residual add, scaling, sum of squares, float-format conversion.
#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void add(Tensor& y, const Tensor& x, float alpha) {
  const int64_t n = y.numel();
  float* yp = y.data_as<float>();
  const float* xp = x.data_as<float>();
#pragma omp parallel for simd schedule(static) if (n > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) yp[i] += alpha * xp[i];
}

void scale(Tensor& x, float alpha) {
  const int64_t n = x.numel();
  float* p = x.data_as<float>();
#pragma omp parallel for simd schedule(static) if (n > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) p[i] *= alpha;
}

// Serial so that the result is the same bit for bit whatever the thread count (gradient norms decide clipping).
double sum_squares(const Tensor& x) {
  const int64_t n = x.numel();
  const float* p = x.data_as<float>();
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]) * p[i];
  return acc;
}

void convert(Tensor& dst, const Tensor& src) { convert_floats(dst.data(), dst.dtype(), src.data(), src.dtype(), dst.numel()); }

}  // namespace stepwise::kernels::cpu
