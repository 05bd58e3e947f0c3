// CPU greedy choice over logit rows: the first column holding the row's largest value (infer/sampler's rule).
#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void argmax_rows(Tensor& ids, const Tensor& logits, int64_t columns) {
  const int64_t n = logits.size(0), v = logits.size(1);
  const float* lp = logits.data_as<float>();
  int32_t* out = ids.data_as<int32_t>();
  for (int64_t r = 0; r < n; ++r) {
    const float* row = lp + r * v;
    int64_t best = 0;
    for (int64_t i = 1; i < columns; ++i)
      if (row[i] > row[best]) best = i;
    out[r] = static_cast<int32_t>(best);
  }
}

}  // namespace stepwise::kernels::cpu
