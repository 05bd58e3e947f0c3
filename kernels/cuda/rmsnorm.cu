// CUDA RMSNorm forward and backward over rows of D: y = x * rstd * w, rstd = (mean(x^2) + eps)^-1/2, and the forward
// fused with the residual add before it (sum += x, then the norm of sum: one pass over the row instead of three).
// One warp per row: D is the hidden size (~1-5k) or a head dimension (128), small enough for a warp, and rows are
// many (tokens, or tokens x heads for the per-head q/k norms). The weight gradient is a column sum over rows, done
// by a separate deterministic two-stage reduction instead of atomics, so gradients are the same run to run.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block
constexpr int kThreads = kRowsPerBlock * kWarp;

// One pack of a row's output: x * s * w in f32, rounded to T.
template <class T, int V>
__device__ __forceinline__ Pack<T, V> normalize(const Pack<T, V>& a, const Pack<T, V>& g, float s) {
  Pack<T, V> out;
#pragma unroll
  for (int j = 0; j < V; ++j) out.e[j] = from_float<T>(to_float(a.e[j]) * s * to_float(g.e[j]));
  return out;
}

// a + b rounded to T, adding the squares of the rounded values to ss.
template <class T, int V>
__device__ __forceinline__ Pack<T, V> add_rounded(Pack<T, V> a, const Pack<T, V>& b, float& ss) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    a.e[j] = from_float<T>(to_float(a.e[j]) + to_float(b.e[j]));
    ss += to_float(a.e[j]) * to_float(a.e[j]);
  }
  return a;
}

template <class T, int V>
__global__ void rmsnorm_forward_kernel(T* y, float* rstd, const T* x, const T* w, int64_t n, int d, float eps) {
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= n) return;
  const T* xr = x + row * d;
  float ss = 0;
  for (int i = lane * V; i < d; i += kWarp * V) {
    const Pack<T, V> a = load_pack<T, V>(xr + i);
#pragma unroll
    for (int j = 0; j < V; ++j) ss += to_float(a.e[j]) * to_float(a.e[j]);
  }
  ss = warp_sum(ss);
  const float s = 1.0f / sqrtf(ss / static_cast<float>(d) + eps);
  if (lane == 0) rstd[row] = s;
  T* yr = y + row * d;
  for (int i = lane * V; i < d; i += kWarp * V) {
    const Pack<T, V> a = load_pack<T, V>(xr + i), g = load_pack<T, V>(w + i);
    store_pack<T, V>(yr + i, normalize(a, g, s));
  }
}

// The fused residual add: each element of sum becomes T(sum + x), and the norm reads that rounded value, so the
// result is add's then rmsnorm_forward_kernel's. Each lane keeps its first kPacks packs of the rounded sum in
// registers between the sum of squares and the output, so a row costs one read of sum and x and one write of sum and
// y. A longer row stores the rest of its sum in the first pass and reads it back in the second (a lane reads only
// its own writes, so no synchronisation is needed). The cached packs go kBatch at a time, each batch's loads issued
// before any of their values is used, so that they wait for memory together: a decode step's few rows cannot hide
// the latency of one load after another. (Issuing all of them at once would need registers for every pack of x and
// of w besides the cache.)
constexpr int kBatch = 4;

template <class T, int V, int kPacks>
__global__ void add_rmsnorm_forward_kernel(T* sum, T* y, float* rstd, const T* x, const T* w, int64_t n, int d,
                                           float eps) {
  static_assert(kPacks % kBatch == 0, "the cache is whole batches");
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= n) return;
  T* sr = sum + row * d;
  const T* xr = x + row * d;
  const auto at = [lane](int k) { return (k * kWarp + lane) * V; };  // where this lane's pack k starts
  Pack<T, V> cached[kPacks];
  float ss = 0;
#pragma unroll
  for (int k0 = 0; k0 < kPacks; k0 += kBatch) {
    Pack<T, V> b[kBatch];  // x
#pragma unroll
    for (int k = 0; k < kBatch; ++k)
      if (at(k0 + k) < d) {
        cached[k0 + k] = load_pack<T, V>(sr + at(k0 + k));
        b[k] = load_pack<T, V>(xr + at(k0 + k));
      }
#pragma unroll
    for (int k = 0; k < kBatch; ++k)
      if (at(k0 + k) < d) cached[k0 + k] = add_rounded(cached[k0 + k], b[k], ss);
  }
  for (int i = at(kPacks); i < d; i += kWarp * V)
    store_pack<T, V>(sr + i, add_rounded(load_pack<T, V>(sr + i), load_pack<T, V>(xr + i), ss));
  ss = warp_sum(ss);
  const float s = 1.0f / sqrtf(ss / static_cast<float>(d) + eps);
  if (lane == 0) rstd[row] = s;
  T* yr = y + row * d;
#pragma unroll
  for (int k0 = 0; k0 < kPacks; k0 += kBatch) {
    Pack<T, V> g[kBatch];  // w
#pragma unroll
    for (int k = 0; k < kBatch; ++k)
      if (at(k0 + k) < d) g[k] = load_pack<T, V>(w + at(k0 + k));
#pragma unroll
    for (int k = 0; k < kBatch; ++k)
      if (at(k0 + k) < d) {
        store_pack<T, V>(sr + at(k0 + k), cached[k0 + k]);
        store_pack<T, V>(yr + at(k0 + k), normalize(cached[k0 + k], g[k], s));
      }
  }
  for (int i = at(kPacks); i < d; i += kWarp * V)
    store_pack<T, V>(yr + i, normalize(load_pack<T, V>(sr + i), load_pack<T, V>(w + i), s));
}

// dx = s * (dy * w) - s^3 / D * x * sum(dy * w * x). Each lane reads dy[i] before writing dx[i] at the same i, so
// dx may alias dy.
template <class T, int V>
__global__ void rmsnorm_backward_dx_kernel(T* dx, const T* dy, const T* x, const T* w, const float* rstd, int64_t n,
                                           int d, bool accumulate) {
  const int64_t row = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= n) return;
  const T* xr = x + row * d;
  const T* dyr = dy + row * d;
  T* dxr = dx + row * d;
  float dot = 0;
  for (int i = lane * V; i < d; i += kWarp * V) {
    const Pack<T, V> a = load_pack<T, V>(xr + i), g = load_pack<T, V>(dyr + i), ww = load_pack<T, V>(w + i);
#pragma unroll
    for (int j = 0; j < V; ++j) dot += to_float(g.e[j]) * to_float(ww.e[j]) * to_float(a.e[j]);
  }
  dot = warp_sum(dot);
  const float s = rstd[row], c = s * s * s * dot / static_cast<float>(d);
  for (int i = lane * V; i < d; i += kWarp * V) {
    const Pack<T, V> a = load_pack<T, V>(xr + i), g = load_pack<T, V>(dyr + i), ww = load_pack<T, V>(w + i);
    Pack<T, V> out = accumulate ? load_pack<T, V>(dxr + i) : Pack<T, V>{};
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float gx = s * to_float(g.e[j]) * to_float(ww.e[j]) - c * to_float(a.e[j]);
      out.e[j] = from_float<T>(accumulate ? to_float(out.e[j]) + gx : gx);
    }
    store_pack<T, V>(dxr + i, out);
  }
}

// dw[c] += sum_r dy[r, c] * x[r, c] * rstd[r], stage 1: block (column block, row chunk) writes partial[chunk][c].
// A warp spans 32 packs of columns (coalesced along a row); the block's 8 warps take interleaved rows of the chunk
// and are summed in warp order through shared memory.
template <class T, int V>
__global__ void rmsnorm_dw_partial_kernel(float* partial, const T* dy, const T* x, const float* rstd, int64_t n,
                                          int d, int64_t rows_per_chunk) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int col = (blockIdx.x * kWarp + lane) * V;
  const int64_t r0 = blockIdx.y * rows_per_chunk, r1 = min(n, r0 + rows_per_chunk);
  float acc[V] = {};
  if (col < d)
    for (int64_t r = r0 + warp; r < r1; r += kRowsPerBlock) {
      const Pack<T, V> g = load_pack<T, V>(dy + r * d + col), a = load_pack<T, V>(x + r * d + col);
      const float s = rstd[r];
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += to_float(g.e[j]) * to_float(a.e[j]) * s;
    }
  __shared__ float sums[kRowsPerBlock][kWarp * V];
#pragma unroll
  for (int j = 0; j < V; ++j) sums[warp][lane * V + j] = acc[j];
  __syncthreads();
  for (int c = threadIdx.x; c < kWarp * V; c += kThreads) {
    const int gc = blockIdx.x * kWarp * V + c;
    if (gc >= d) continue;
    float total = 0;
    for (int k = 0; k < kRowsPerBlock; ++k) total += sums[k][c];
    partial[blockIdx.y * int64_t{d} + gc] = total;
  }
}

// Stage 2: dw[c] += sum over chunks, in chunk order.
__global__ void rmsnorm_dw_finish_kernel(float* dw, const float* partial, int chunks, int d) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= d) return;
  float total = 0;
  for (int k = 0; k < chunks; ++k) total += partial[int64_t{k} * d + c];
  dw[c] += total;
}

unsigned row_blocks(int64_t n) { return static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock); }

// The smallest of three register caches that holds a lane's share of the row: the cache costs registers, and so
// resident warps, whether a row fills it or not (bf16 in 16-byte packs, sm_90: about 90 registers a thread for 4
// packs, 130 for 8, 240 for 20). 4 and 8 packs hold the rows of Qwen3-0.6B and 1.7B in bf16 (hidden sizes 1024 and
// 2048); 20 hold rows of up to 5120 bf16 elements (Qwen3's largest hidden size), 2560 f32 or 640 unpacked ones, and
// longer rows re-read their tail.
template <class T, int V>
void add_rmsnorm(Tensor& sum, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  const int64_t n = sum.size(0);
  const int d = static_cast<int>(sum.size(1)), packs = (d + kWarp * V - 1) / (kWarp * V);
  const auto launch = [&](auto kernel) {
    kernel<<<row_blocks(n), kThreads, 0, stream()>>>(ptr<T>(sum), ptr<T>(y), ptr<float>(rstd), ptr<const T>(x),
                                                     ptr<const T>(w), n, d, eps);
  };
  if (packs <= 4)
    launch(add_rmsnorm_forward_kernel<T, V, 4>);
  else if (packs <= 8)
    launch(add_rmsnorm_forward_kernel<T, V, 8>);
  else
    launch(add_rmsnorm_forward_kernel<T, V, 20>);
}

template <class T, int V>
void rmsnorm_dw(Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& rstd) {
  const int64_t n = x.size(0);
  const int d = static_cast<int>(x.size(1));
  const unsigned col_blocks = static_cast<unsigned>((d + kWarp * V - 1) / (kWarp * V));
  // Enough chunks to give every SM a few blocks, each chunk at least a few rows per warp.
  const int64_t max_chunks = std::max<int64_t>(1, (n + 4 * kRowsPerBlock - 1) / (4 * kRowsPerBlock));
  const int64_t chunks = std::min<int64_t>(max_chunks, std::max<int64_t>(1, 4 * sm_count() / col_blocks));
  const int64_t rows_per_chunk = (n + chunks - 1) / chunks;
  float* partial = static_cast<float*>(scratch(Scratch::kPartials, chunks * d * sizeof(float)));
  rmsnorm_dw_partial_kernel<T, V><<<dim3(col_blocks, static_cast<unsigned>(chunks)), kThreads, 0, stream()>>>(
      partial, ptr<const T>(dy), ptr<const T>(x), ptr<const float>(rstd), n, d, rows_per_chunk);
  CUDA_CHECK(cudaGetLastError());
  rmsnorm_dw_finish_kernel<<<(d + 255) / 256, 256, 0, stream()>>>(ptr<float>(dw), partial, static_cast<int>(chunks),
                                                                  d);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void rmsnorm_forward(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  expect_same_dtype("rmsnorm_forward", y, x);
  expect_same_dtype("rmsnorm_forward", w, x);
  expect_dtype("rmsnorm_forward", "rstd", rstd, DType::kF32);
  const int64_t n = x.size(0);
  const int d = static_cast<int>(x.size(1));
  if (n == 0) return;
  dispatch_float(x.dtype(), "rmsnorm_forward", [&](auto tag) {
    using T = decltype(tag);
    if (vectorizable<T>(d, {x.data(), y.data(), w.data()}))
      rmsnorm_forward_kernel<T, kVec<T>><<<row_blocks(n), kThreads, 0, stream()>>>(
          ptr<T>(y), ptr<float>(rstd), ptr<const T>(x), ptr<const T>(w), n, d, eps);
    else
      rmsnorm_forward_kernel<T, 1><<<row_blocks(n), kThreads, 0, stream()>>>(ptr<T>(y), ptr<float>(rstd),
                                                                              ptr<const T>(x), ptr<const T>(w), n, d,
                                                                              eps);
  });
  CUDA_CHECK(cudaGetLastError());
}

void add_rmsnorm_forward(Tensor& sum, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w, float eps) {
  expect_same_dtype("add_rmsnorm_forward", x, sum);
  expect_same_dtype("add_rmsnorm_forward", y, sum);
  expect_same_dtype("add_rmsnorm_forward", w, sum);
  expect_dtype("add_rmsnorm_forward", "rstd", rstd, DType::kF32);
  if (sum.size(0) == 0) return;
  dispatch_float(sum.dtype(), "add_rmsnorm_forward", [&](auto tag) {
    using T = decltype(tag);
    if (vectorizable<T>(sum.size(1), {sum.data(), x.data(), y.data(), w.data()}))
      add_rmsnorm<T, kVec<T>>(sum, y, rstd, x, w, eps);
    else
      add_rmsnorm<T, 1>(sum, y, rstd, x, w, eps);
  });
  CUDA_CHECK(cudaGetLastError());
}

void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, bool accumulate_dx) {
  expect_same_dtype("rmsnorm_backward", dx, x);
  expect_same_dtype("rmsnorm_backward", dy, x);
  expect_same_dtype("rmsnorm_backward", w, x);
  expect_dtype("rmsnorm_backward", "dw (a parameter gradient)", dw, DType::kF32);
  expect_dtype("rmsnorm_backward", "rstd", rstd, DType::kF32);
  const int64_t n = x.size(0);
  const int d = static_cast<int>(x.size(1));
  if (n == 0) return;
  dispatch_float(x.dtype(), "rmsnorm_backward", [&](auto tag) {
    using T = decltype(tag);
    // dw first: dx may alias dy, and dw reads dy.
    if (vectorizable<T>(d, {x.data(), dy.data(), dx.data(), w.data()})) {
      rmsnorm_dw<T, kVec<T>>(dw, dy, x, rstd);
      rmsnorm_backward_dx_kernel<T, kVec<T>><<<row_blocks(n), kThreads, 0, stream()>>>(
          ptr<T>(dx), ptr<const T>(dy), ptr<const T>(x), ptr<const T>(w), ptr<const float>(rstd), n, d,
          accumulate_dx);
    } else {
      rmsnorm_dw<T, 1>(dw, dy, x, rstd);
      rmsnorm_backward_dx_kernel<T, 1><<<row_blocks(n), kThreads, 0, stream()>>>(
          ptr<T>(dx), ptr<const T>(dy), ptr<const T>(x), ptr<const T>(w), ptr<const float>(rstd), n, d,
          accumulate_dx);
    }
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
