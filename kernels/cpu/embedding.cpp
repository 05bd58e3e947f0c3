// CPU vocab-parallel embedding lookup and its gradient (scatter-add).
#include <cstring>

#include "core/status.h"
#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void embedding_forward(Tensor& out, const Tensor& table, const Tensor& ids, int64_t vocab_start) {
  const int64_t n = ids.numel(), d = table.size(1), v_local = table.size(0);
  const int32_t* id = ids.data_as<int32_t>();
  const float* tab = table.data_as<float>();
  float* o = out.data_as<float>();
#pragma omp parallel for schedule(static) if (n * d > kParallelMinWork)
  for (int64_t t = 0; t < n; ++t) {
    const int64_t row = id[t] - vocab_start;
    if (row >= 0 && row < v_local)
      std::memcpy(o + t * d, tab + row * d, static_cast<size_t>(d) * sizeof(float));
    else
      std::memset(o + t * d, 0, static_cast<size_t>(d) * sizeof(float));
  }
}

// Serial over tokens (a token id may repeat), vectorised over the hidden dimension.
void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& ids, int64_t vocab_start) {
  const int64_t n = ids.numel(), d = dtable.size(1), v_local = dtable.size(0);
  const int32_t* id = ids.data_as<int32_t>();
  const float* g = dout.data_as<float>();
  float* dt = dtable.data_as<float>();
  for (int64_t t = 0; t < n; ++t) {
    const int64_t row = id[t] - vocab_start;
    if (row < 0 || row >= v_local) continue;
    float* dst = dt + row * d;
    const float* src = g + t * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) dst[i] += src[i];
  }
}

}  // namespace stepwise::kernels::cpu
