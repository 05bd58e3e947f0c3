// CUDA rotary embedding (Hugging Face split-halves layout), in place, from the precomputed f32 cos/sin table.
// One thread per rotated pair (token, head, i < hd/2): the pair (x_i, x_{i+hd/2}) is read and written by one thread,
// and consecutive threads touch consecutive i, so accesses coalesce.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

// A position outside the table cannot raise an error from a kernel without a synchronisation per call, so the
// rotated values become NaN: the loss turns NaN instead of silently reading another row. (The CPU reference raises
// INVALID_ARGUMENT; callers bound positions by max_position_embeddings.)
template <class T>
__global__ void rope_kernel(T* x, const int32_t* positions, const float* table, int64_t pairs, int heads, int half,
                            int max_pos, float sign) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < pairs; p += int64_t{gridDim.x} * blockDim.x) {
    const int i = static_cast<int>(p % half);
    const int64_t row = p / half;  // token * heads + head
    const int64_t token = row / heads;
    const int pos = positions[token];
    T* v = x + row * 2 * half;
    if (pos < 0 || pos >= max_pos) {
      v[i] = v[half + i] = from_float<T>(NAN);
      continue;
    }
    const float* cs = table + int64_t{pos} * 2 * half;
    const float c = cs[i], s = sign * cs[half + i];
    const float a = to_float(v[i]), b = to_float(v[half + i]);
    v[i] = from_float<T>(a * c - b * s);
    v[half + i] = from_float<T>(b * c + a * s);
  }
}

}  // namespace

void rope_apply(Tensor& x, const Tensor& positions, const Tensor& table, bool inverse) {
  const int64_t n = x.size(0);
  const int heads = static_cast<int>(x.size(1)), half = static_cast<int>(x.size(2) / 2);
  const int64_t pairs = n * heads * half;
  if (pairs == 0) return;
  dispatch_float(x.dtype(), "rope_apply", [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<grid_for(pairs, 256), 256, 0, stream()>>>(ptr<T>(x), ptr<const int32_t>(positions),
                                                               ptr<const float>(table), pairs, heads, half,
                                                               static_cast<int>(table.size(0)),
                                                               inverse ? -1.0f : 1.0f);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
