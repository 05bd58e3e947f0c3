// CPU elementwise helpers: residual add, i32 increment, scaling, sum of squares, float-format conversion.
#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void add(Tensor& y, const Tensor& x, float alpha) {
  const int64_t n = y.numel();
  float* yp = y.data_as<float>();
  const float* xp = x.data_as<float>();
#pragma omp parallel for simd schedule(static) if (n > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) yp[i] += alpha * xp[i];
}

void increment(Tensor& x, int32_t delta) {
  int32_t* p = x.data_as<int32_t>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] += delta;
}

void scale(Tensor& x, float alpha) {
  const int64_t n = x.numel();
  float* p = x.data_as<float>();
#pragma omp parallel for simd schedule(static) if (n > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) p[i] *= alpha;
}

// Each tensor's sum is serial, so that it is the same bit for bit whatever the thread count (gradient norms decide
// clipping); the threads share out the tensors.
std::vector<double> sum_squares_each(const std::vector<Tensor>& xs) {
  std::vector<double> sums(xs.size(), 0.0);
  const int64_t count = static_cast<int64_t>(xs.size());
#pragma omp parallel for schedule(dynamic)
  for (int64_t t = 0; t < count; ++t) {
    const int64_t n = xs[t].numel();
    const float* p = xs[t].data_as<float>();
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]) * p[i];
    sums[t] = acc;
  }
  return sums;
}

void convert(Tensor& dst, const Tensor& src) { convert_floats(dst.data(), dst.dtype(), src.data(), src.dtype(), dst.numel()); }

}  // namespace stepwise::kernels::cpu
