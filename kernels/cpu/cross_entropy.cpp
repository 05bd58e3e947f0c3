// CPU cross-entropy over vocab-parallel logits: row max, sum of exponentials, then the gradient in place.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void cross_entropy_row_max(Tensor& row_max, const Tensor& logits) {
  const int64_t n = logits.size(0), v = logits.size(1);
  const float* lg = logits.data_as<float>();
  float* mx = row_max.data_as<float>();
#pragma omp parallel for schedule(static) if (n * v > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    const float* x = lg + r * v;
    float m = -INFINITY;
    for (int64_t i = 0; i < v; ++i) m = std::max(m, x[i]);
    mx[r] = m;
  }
}

void cross_entropy_sum_exp(Tensor& sum_exp, Tensor& target_logit, const Tensor& logits, const Tensor& row_max,
                           const Tensor& targets, int64_t vocab_start) {
  const int64_t n = logits.size(0), v = logits.size(1);
  const float* lg = logits.data_as<float>();
  const float* mx = row_max.data_as<float>();
  const int32_t* tg = targets.data_as<int32_t>();
  float* se = sum_exp.data_as<float>();
  float* tl = target_logit.data_as<float>();
#pragma omp parallel for schedule(static) if (n * v > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    const float* x = lg + r * v;
    double s = 0;
    for (int64_t i = 0; i < v; ++i) s += std::exp(static_cast<double>(x[i]) - mx[r]);
    se[r] = static_cast<float>(s);
    const int64_t col = static_cast<int64_t>(tg[r]) - vocab_start;
    tl[r] = (tg[r] >= 0 && col >= 0 && col < v) ? x[col] : 0.0f;
  }
}

void cross_entropy_backward(Tensor& logits, const Tensor& row_max, const Tensor& sum_exp, const Tensor& targets,
                            int64_t vocab_start, float grad_scale) {
  const int64_t n = logits.size(0), v = logits.size(1);
  float* lg = logits.data_as<float>();
  const int32_t* tg = targets.data_as<int32_t>();
  const float* mx = row_max.data_as<float>();
  const float* se = sum_exp.data_as<float>();
#pragma omp parallel for schedule(static) if (n * v > kParallelMinWork)
  for (int64_t r = 0; r < n; ++r) {
    float* x = lg + r * v;
    if (tg[r] < 0) {
      std::fill(x, x + v, 0.0f);
      continue;
    }
    const double inv = 1.0 / se[r];
    for (int64_t i = 0; i < v; ++i)
      x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx[r]) * inv * grad_scale);
    const int64_t col = static_cast<int64_t>(tg[r]) - vocab_start;
    if (col >= 0 && col < v) x[col] -= grad_scale;
  }
}

}  // namespace stepwise::kernels::cpu
