// CPU rotary embedding (split-halves layout), applied in place from a precomputed cos/sin table, and the per-head
// norm + rotary pass it ends.
#include "core/status.h"
#include "kernels/cpu/cpu_ops.h"

namespace stepwise::kernels::cpu {

void rope_apply(Tensor& x, const Tensor& positions, const Tensor& table, bool inverse) {
  const int64_t n = x.size(0), heads = x.size(1), hd = x.size(2), half = hd / 2;
  const int64_t max_pos = table.size(0);
  const int32_t* pos = positions.data_as<int32_t>();
  const float* tab = table.data_as<float>();
  float* xp = x.data_as<float>();
  for (int64_t t = 0; t < n; ++t)
    if (pos[t] < 0 || pos[t] >= max_pos)
      fail(StatusCode::kInvalidArgument, "position ", pos[t], " of token ", t, " is outside the rotary table (",
           max_pos, " positions); raise max_position_embeddings or shorten the sequence");
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if (n * heads * hd > kParallelMinWork)
  for (int64_t t = 0; t < n; ++t) {
    const float* cs = tab + static_cast<int64_t>(pos[t]) * hd;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = xp + (t * heads + h) * hd;
      for (int64_t i = 0; i < half; ++i) {
        const float c = cs[i], s = sign * cs[half + i];
        const float a = v[i], b = v[half + i];
        v[i] = a * c - b * s;
        v[half + i] = b * c + a * s;
      }
    }
  }
}

// The reference is the unfused pair: the fusion only saves memory passes and launches on the GPU.
void head_norm_rope_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, const Tensor& positions,
                            const Tensor& table, float eps) {
  const int64_t rows = x.size(0) * x.size(1), hd = x.size(2);
  Tensor y2 = y.reshape({rows, hd});
  rmsnorm_forward(y2, rstd, x.reshape({rows, hd}), w, eps);
  rope_apply(y, positions, table, false);
}

}  // namespace stepwise::kernels::cpu
