// CUDA per-head RMSNorm and rotary embedding in one pass (Qwen3's q/k norms): y = rope(rmsnorm(x) * w) over rows of
// one head, [N, H, hd]. Fused because every layer normalises and then rotates both q and k: one pass over each and
// one launch instead of two, which matters most to decode, where a step's kernels are short and their count is its
// time. One warp per (token, head) row, as rmsnorm.cu: a lane owns matching elements i and i + hd/2 of both halves,
// so it rotates its own pairs with no shuffle, and it keeps them in registers between the sum of squares and the
// output, so the row is read once.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block
constexpr int kThreads = kRowsPerBlock * kWarp;
constexpr int kMaxHeadDim = 256;

// V values of the table at p, or NaNs for a position outside it.
template <int V>
__device__ __forceinline__ Pack<float, V> table_pack(const float* p, bool in_table) {
  if (in_table) return load_pack<float, V>(p);
  Pack<float, V> nan;
#pragma unroll
  for (int j = 0; j < V; ++j) nan.e[j] = NAN;
  return nan;
}

// V: consecutive elements of each half a lane moves at a time; each lane holds kMaxHeadDim / 2 / (kWarp * V) of them
// per half (pack k of a lane starts at element (k * kWarp + lane) * V of the half). The row, the weights and the
// token's position are loaded together at the start, so a row waits for memory twice: for them, then for its table
// row. The normalised value is rounded to T before the rotation and the rotation is rope_kernel's
// (kernels/cuda/rope.cu), so the result is rmsnorm_forward's then rope_apply's. A position outside the table makes
// the row's outputs NaN, as rope_kernel does and for its reason (no error can leave a kernel without a
// synchronisation per call); rstd is still written.
template <class T, int V>
__global__ void head_norm_rope_kernel(T* y, float* rstd, const T* x, const T* w, const int32_t* positions,
                                      const float* table, int64_t rows, int heads, int half, int max_pos, float eps) {
  constexpr int kPacks = kMaxHeadDim / 2 / (kWarp * V);
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;  // token * heads + head
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const int pos = positions[row / heads];
  const T* xr = x + row * 2 * half;
  Pack<T, V> a[kPacks], b[kPacks], wa[kPacks], wb[kPacks];  // elements i and i + half of x (then y) and of w
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int i = (k * kWarp + lane) * V;
    if (i >= half) continue;
    a[k] = load_pack<T, V>(xr + i);
    b[k] = load_pack<T, V>(xr + half + i);
    wa[k] = load_pack<T, V>(w + i);
    wb[k] = load_pack<T, V>(w + half + i);
  }
  float ss = 0;
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    if ((k * kWarp + lane) * V >= half) continue;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float p = to_float(a[k].e[j]), q = to_float(b[k].e[j]);
      ss += p * p + q * q;
    }
  }
  ss = warp_sum(ss);
  const float s = 1.0f / sqrtf(ss / static_cast<float>(2 * half) + eps);
  if (lane == 0) rstd[row] = s;
  const bool in_table = pos >= 0 && pos < max_pos;
  const float* cs = table + int64_t{in_table ? pos : 0} * 2 * half;  // read only when in_table
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int i = (k * kWarp + lane) * V;
    if (i >= half) continue;
    const Pack<float, V> cp = table_pack<V>(cs + i, in_table), sp = table_pack<V>(cs + half + i, in_table);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float na = to_float(from_float<T>(to_float(a[k].e[j]) * s * to_float(wa[k].e[j])));
      const float nb = to_float(from_float<T>(to_float(b[k].e[j]) * s * to_float(wb[k].e[j])));
      const float c = cp.e[j], sn = sp.e[j];
      a[k].e[j] = from_float<T>(na * c - nb * sn);
      b[k].e[j] = from_float<T>(nb * c + na * sn);
    }
  }
  T* yr = y + row * 2 * half;  // stored after the table's loads: a load cannot move above a store that may alias it
#pragma unroll
  for (int k = 0; k < kPacks; ++k) {
    const int i = (k * kWarp + lane) * V;
    if (i >= half) continue;
    store_pack<T, V>(yr + i, a[k]);
    store_pack<T, V>(yr + half + i, b[k]);
  }
}

template <class T, int V>
void launch(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, const Tensor& positions, const Tensor& table,
            float eps) {
  const int64_t rows = x.size(0) * x.size(1);
  head_norm_rope_kernel<T, V>
      <<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, stream()>>>(
          ptr<T>(y), ptr<float>(rstd), ptr<const T>(x), ptr<const T>(w), ptr<const int32_t>(positions),
          ptr<const float>(table), rows, static_cast<int>(x.size(1)), static_cast<int>(x.size(2) / 2),
          static_cast<int>(table.size(0)), eps);
}

// The widest pack (4, 2 or 1 elements) that gives every lane of the warp a whole pack of each half (Qwen3's hd 128:
// 2 elements, one 4- or 8-byte access per lane and half), divides the half, and the operands' addresses allow.
int pack_width(int half, std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return 1;
  for (int v : {4, 2})
    if (half >= kWarp * v && half % v == 0) return v;
  return 1;
}

}  // namespace

void head_norm_rope_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, const Tensor& positions,
                            const Tensor& table, float eps) {
  expect_same_dtype("head_norm_rope_forward", y, x);
  expect_same_dtype("head_norm_rope_forward", w, x);
  expect_dtype("head_norm_rope_forward", "rstd", rstd, DType::kF32);
  if (x.size(2) > kMaxHeadDim)
    fail(StatusCode::kInternal, "head_norm_rope_forward on CUDA supports head_dim up to ", kMaxHeadDim, ", got ",
         x.size(2));
  if (x.numel() == 0) return;
  const int v = pack_width(static_cast<int>(x.size(2) / 2), {y.data(), x.data(), w.data(), table.data()});
  dispatch_float(x.dtype(), "head_norm_rope_forward", [&](auto tag) {
    using T = decltype(tag);
    if (v == 4)
      launch<T, 4>(y, rstd, x, w, positions, table, eps);
    else if (v == 2)
      launch<T, 2>(y, rstd, x, w, positions, table, eps);
    else
      launch<T, 1>(y, rstd, x, w, positions, table, eps);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
