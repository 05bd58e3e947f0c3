// GPU test helpers: paired CPU/GPU operands and relative-error comparison.
#include "gpu_test_util.h"

#include <cmath>
#include <cstdio>

namespace stepwise::testing {

double tolerance(DType dtype) { return dtype == DType::kF32 ? 1e-5 : 1e-2; }

std::string dtype_param_name(const ::testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

Operand operand_from(const Tensor& cpu_f32, DType dtype) {
  const Tensor rounded = cpu_f32.to_dtype(dtype);
  return {rounded.to_dtype(DType::kF32), rounded.to(Device::kCUDA)};
}

Operand random_operand(const Shape& shape, DType dtype, Rng& rng, float scale) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * rng.normal();
  return operand_from(t, dtype);
}

Operand filled_operand(const Shape& shape, DType dtype, float value) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return operand_from(t, dtype);
}

double rel_error(const Tensor& ours, const Tensor& ref) {
  const std::vector<float> a = ours.to_f32_vector(), b = ref.to_f32_vector();
  if (a.size() != b.size()) return INFINITY;
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;
    if (!std::isfinite(b[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

void expect_close(const Tensor& ours, const Tensor& ref, double tol, const std::string& what) {
  const double err = rel_error(ours, ref);
  std::printf("  %-48s rel error %.3g (tolerance %.0e)\n", what.c_str(), err, tol);
  EXPECT_LE(err, tol) << what;  // NaN and inf fail
}

}  // namespace stepwise::testing
