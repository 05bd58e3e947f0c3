// Row-wise attention kernels for any head_dim up to 256 in f32 or bf16, plus the backward preparation both paths
// share. A block of 4 warps owns one query row of one head (forward, dQ) or one key row of one KV head (dK/dV);
// its warps split the other side's rows 32 at a time, one row per lane (each lane forms a full dot product, reading
// its row with 16-byte loads), keep an online softmax per warp, and are merged in warp order at the end. Scalar
// f32 arithmetic throughout: this is the precise path (f32 models), the path for head dims the tensor-core kernels
// do not cover, and the decoding path, where a step has one query per sequence and the work is a few hundred keys.
#include <cmath>
#include <type_traits>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kWarps = 4, kThreads = kWarps * kWarp;
constexpr int kMaxDims = kRowwiseMaxHeadDim / kWarp;  // head dims each lane owns in the output accumulators

// dot(x, row) with x an f32 vector in shared memory and row hd elements of T in global memory.
template <class T, int V>
__device__ __forceinline__ float dot_row(const float* x, const T* row, int hd) {
  float acc = 0.0f;
  for (int d = 0; d < hd; d += V) {
    const Pack<T, V> p = load_pack<T, V>(row + d);
#pragma unroll
    for (int j = 0; j < V; ++j) acc += x[d + j] * to_float(p.e[j]);
  }
  return acc;
}

template <class T>
__device__ __forceinline__ void load_row_f32(float* dst, const T* src, int hd) {
  for (int d = threadIdx.x; d < hd; d += kThreads) dst[d] = to_float(src[d]);
}

struct Geometry {
  int q0, lq, k0, lk;
};
__device__ __forceinline__ Geometry geometry(const int32_t* cu_q, const int32_t* cu_k, int s) {
  return {cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s], cu_k[s + 1] - cu_k[s]};
}
// Keys query row `row` sees: the queries are the last lq of the sequence's lk positions (a KV cache holds the rest).
__device__ __forceinline__ int visible_keys(const Geometry& gm, int64_t row) {
  return max(0, min(gm.lk, static_cast<int>(row - gm.q0) + gm.lk - gm.lq + 1));
}

template <class T, int V>
__global__ void __launch_bounds__(kThreads)
    rowwise_forward_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                           T* __restrict__ out, float* __restrict__ lse, const int32_t* __restrict__ cu_q,
                           const int32_t* __restrict__ cu_k, int seqs, int hq, int hkv, int hd, float scale) {
  const int64_t row = blockIdx.x;
  const int h = blockIdx.y, kh = h / (hq / hkv);
  const int s = find_sequence(cu_q, seqs, row);
  if (s < 0) return;
  const Geometry gm = geometry(cu_q, cu_k, s);
  const int vis = visible_keys(gm, row);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  __shared__ float sq[kRowwiseMaxHeadDim];
  __shared__ float s_m[kWarps], s_l[kWarps], s_acc[kWarps][kRowwiseMaxHeadDim];
  load_row_f32(sq, q + (row * hq + h) * hd, hd);
  __syncthreads();

  float m = -INFINITY, l = 0.0f, acc[kMaxDims] = {};
  for (int j0 = warp * kWarp; j0 < vis; j0 += kWarps * kWarp) {
    const int j = j0 + lane;
    const float sc = j < vis ? scale * dot_row<T, V>(sq, k + ((int64_t{gm.k0} + j) * hkv + kh) * hd, hd) : -INFINITY;
    const float m_new = fmaxf(m, warp_max(sc));  // finite: lane 0's key is visible
    const float corr = expf(m - m_new);
    const float p = j < vis ? expf(sc - m_new) : 0.0f;
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int c = 0; c < kMaxDims; ++c) acc[c] *= corr;
    const int n = min(kWarp, vis - j0);
    for (int jj = 0; jj < n; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const T* vr = v + ((int64_t{gm.k0} + j0 + jj) * hkv + kh) * hd;
#pragma unroll
      for (int c = 0; c < kMaxDims; ++c)
        if (lane + c * kWarp < hd) acc[c] += pj * to_float(vr[lane + c * kWarp]);
    }
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int c = 0; c < kMaxDims; ++c)
    if (lane + c * kWarp < hd) s_acc[warp][lane + c * kWarp] = acc[c];
  __syncthreads();

  float big = -INFINITY;
  for (int w = 0; w < kWarps; ++w) big = fmaxf(big, s_m[w]);
  float total = 0.0f;
  for (int w = 0; w < kWarps; ++w) total += big == -INFINITY ? 0.0f : s_l[w] * expf(s_m[w] - big);
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  for (int d = threadIdx.x; d < hd; d += kThreads) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (s_m[w] != -INFINITY) o += s_acc[w][d] * expf(s_m[w] - big);
    out[(row * hq + h) * hd + d] = from_float<T>(o * inv);
  }
  if (threadIdx.x == 0) lse[row * hq + h] = total > 0.0f ? big + logf(total) : -INFINITY;
}

// dQ_i = scale * sum_j dS_ij k_j, dS_ij = P_ij (dO_i . v_j - D_i), P_ij = exp(scale q_i . k_j - lse_i).
template <class T, int V>
__global__ void __launch_bounds__(kThreads)
    rowwise_dq_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                      const T* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dsum,
                      T* __restrict__ dq, const int32_t* __restrict__ cu_q, const int32_t* __restrict__ cu_k, int seqs,
                      int hq, int hkv, int hd, float scale) {
  const int64_t row = blockIdx.x;
  const int h = blockIdx.y, kh = h / (hq / hkv);
  const int s = find_sequence(cu_q, seqs, row);
  if (s < 0) return;
  const Geometry gm = geometry(cu_q, cu_k, s);
  const int vis = visible_keys(gm, row);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  __shared__ float sq[kRowwiseMaxHeadDim], sdo[kRowwiseMaxHeadDim];
  __shared__ float s_acc[kWarps][kRowwiseMaxHeadDim];
  load_row_f32(sq, q + (row * hq + h) * hd, hd);
  load_row_f32(sdo, dout + (row * hq + h) * hd, hd);
  __syncthreads();
  const float l_i = lse[row * hq + h], d_i = dsum[row * hq + h];

  float acc[kMaxDims] = {};
  for (int j0 = warp * kWarp; j0 < vis; j0 += kWarps * kWarp) {
    const int j = j0 + lane;
    float ds = 0.0f;
    if (j < vis) {
      const int64_t kv = ((int64_t{gm.k0} + j) * hkv + kh) * hd;
      const float p = expf(scale * dot_row<T, V>(sq, k + kv, hd) - l_i);
      ds = p * (dot_row<T, V>(sdo, v + kv, hd) - d_i);
    }
    const int n = min(kWarp, vis - j0);
    for (int jj = 0; jj < n; ++jj) {
      const float dsj = __shfl_sync(0xffffffffu, ds, jj);
      const T* kr = k + ((int64_t{gm.k0} + j0 + jj) * hkv + kh) * hd;
#pragma unroll
      for (int c = 0; c < kMaxDims; ++c)
        if (lane + c * kWarp < hd) acc[c] += dsj * to_float(kr[lane + c * kWarp]);
    }
  }
#pragma unroll
  for (int c = 0; c < kMaxDims; ++c)
    if (lane + c * kWarp < hd) s_acc[warp][lane + c * kWarp] = acc[c];
  __syncthreads();
  for (int d = threadIdx.x; d < hd; d += kThreads) {
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) total += s_acc[w][d];
    dq[(row * hq + h) * hd + d] = from_float<T>(total * scale);
  }
}

// For key j of KV head kh: dV_j = sum P_ij dO_i and dK_j = scale * sum dS_ij q_i over the group's query heads and
// the queries that see j (lanes take (head, query) pairs).
template <class T, int V>
__global__ void __launch_bounds__(kThreads)
    rowwise_dkdv_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                        const T* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dsum,
                        T* __restrict__ dk, T* __restrict__ dv, const int32_t* __restrict__ cu_q,
                        const int32_t* __restrict__ cu_k, int seqs, int hq, int hkv, int hd, float scale) {
  const int64_t row = blockIdx.x;
  const int kh = blockIdx.y, group = hq / hkv;
  const int s = find_sequence(cu_k, seqs, row);
  if (s < 0) return;  // attention_backward_prepare zeroed it
  const Geometry gm = geometry(cu_q, cu_k, s);
  const int first = max(0, static_cast<int>(row - gm.k0) - (gm.lk - gm.lq));  // first query that sees this key
  const int count = max(0, gm.lq - first), pairs = group * count;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  __shared__ float sk[kRowwiseMaxHeadDim], sv[kRowwiseMaxHeadDim];
  __shared__ float s_dk[kWarps][kRowwiseMaxHeadDim], s_dv[kWarps][kRowwiseMaxHeadDim];
  load_row_f32(sk, k + (row * hkv + kh) * hd, hd);
  load_row_f32(sv, v + (row * hkv + kh) * hd, hd);
  __syncthreads();

  // Pair index -> (query row, head) in the [nq, hq] grid.
  auto query_of = [&](int idx) { return (int64_t{gm.q0} + first + idx % count) * hq + kh * group + idx / count; };
  float acc_k[kMaxDims] = {}, acc_v[kMaxDims] = {};
  for (int p0 = warp * kWarp; p0 < pairs; p0 += kWarps * kWarp) {
    float p = 0.0f, ds = 0.0f;
    if (p0 + lane < pairs) {
      const int64_t qh = query_of(p0 + lane);
      p = expf(scale * dot_row<T, V>(sk, q + qh * hd, hd) - lse[qh]);
      ds = p * (dot_row<T, V>(sv, dout + qh * hd, hd) - dsum[qh]);
    }
    const int n = min(kWarp, pairs - p0);
    for (int jj = 0; jj < n; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj), dsj = __shfl_sync(0xffffffffu, ds, jj);
      const int64_t qh = query_of(p0 + jj);
#pragma unroll
      for (int c = 0; c < kMaxDims; ++c)
        if (lane + c * kWarp < hd) {
          acc_v[c] += pj * to_float(dout[qh * hd + lane + c * kWarp]);
          acc_k[c] += dsj * to_float(q[qh * hd + lane + c * kWarp]);
        }
    }
  }
#pragma unroll
  for (int c = 0; c < kMaxDims; ++c)
    if (lane + c * kWarp < hd) {
      s_dk[warp][lane + c * kWarp] = acc_k[c];
      s_dv[warp][lane + c * kWarp] = acc_v[c];
    }
  __syncthreads();
  for (int d = threadIdx.x; d < hd; d += kThreads) {
    float tk = 0.0f, tv = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      tk += s_dk[w][d];
      tv += s_dv[w][d];
    }
    dk[(row * hkv + kh) * hd + d] = from_float<T>(tk * scale);
    dv[(row * hkv + kh) * hd + d] = from_float<T>(tv);
  }
}

// D[r] = dout[r] . out[r] over rows r of [nq * hq, hd], one warp per row.
template <class T>
__global__ void dsum_kernel(float* dsum, const T* dout, const T* out, int64_t rows, int hd) {
  const int64_t r = blockIdx.x * int64_t{kWarps} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  float acc = 0.0f;
  for (int d = lane; d < hd; d += kWarp) acc += to_float(dout[r * hd + d]) * to_float(out[r * hd + d]);
  acc = warp_sum(acc);
  if (lane == 0) dsum[r] = acc;
}

// Zeroes elements [cu_k[seqs] * row_elems, total) of dk and dv; no thread loops when every row has a sequence.
template <class T>
__global__ void zero_tail_kernel(T* dk, T* dv, const int32_t* cu_k, int seqs, int64_t row_elems, int64_t total) {
  for (int64_t i = cu_k[seqs] * row_elems + blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x)
    dk[i] = dv[i] = from_float<T>(0.0f);
}

// Calls f.template operator()<T, V>() with V = 16-byte packs when hd and the operands allow.
template <class T, class F>
void with_pack(const AttentionArgs& a, std::initializer_list<const void*> ptrs, F&& f) {
  if (vectorizable<T>(a.hd, ptrs))
    f(std::integral_constant<int, kVec<T>>{});
  else
    f(std::integral_constant<int, 1>{});
}

}  // namespace

void rowwise_attention_forward(const AttentionArgs& a, DType dtype, void* out, float* lse) {
  if (a.nq == 0) return;
  dispatch_float(dtype, "attention_forward", [&](auto tag) {
    using T = decltype(tag);
    with_pack<T>(a, {a.q, a.k, a.v}, [&](auto vec) {
      rowwise_forward_kernel<T, decltype(vec)::value>
          <<<dim3(static_cast<unsigned>(a.nq), static_cast<unsigned>(a.hq)), kThreads, 0, stream()>>>(
              static_cast<const T*>(a.q), static_cast<const T*>(a.k), static_cast<const T*>(a.v), static_cast<T*>(out),
              lse, a.cu_q, a.cu_k, a.seqs, a.hq, a.hkv, a.hd, a.scale);
    });
  });
  CUDA_CHECK(cudaGetLastError());
}

void rowwise_attention_backward(const AttentionArgs& a, DType dtype, const AttentionGrads& g) {
  dispatch_float(dtype, "attention_backward", [&](auto tag) {
    using T = decltype(tag);
    with_pack<T>(a, {a.q, a.k, a.v, g.dout}, [&](auto vec) {
      constexpr int V = decltype(vec)::value;
      const auto* q = static_cast<const T*>(a.q);
      const auto* k = static_cast<const T*>(a.k);
      const auto* v = static_cast<const T*>(a.v);
      const auto* dout = static_cast<const T*>(g.dout);
      if (a.nq > 0)
        rowwise_dq_kernel<T, V><<<dim3(static_cast<unsigned>(a.nq), static_cast<unsigned>(a.hq)), kThreads, 0,
                                   stream()>>>(q, k, v, dout, g.lse, g.dsum, static_cast<T*>(g.dq), a.cu_q, a.cu_k,
                                               a.seqs, a.hq, a.hkv, a.hd, a.scale);
      CUDA_CHECK(cudaGetLastError());
      if (a.nk > 0)
        rowwise_dkdv_kernel<T, V><<<dim3(static_cast<unsigned>(a.nk), static_cast<unsigned>(a.hkv)), kThreads, 0,
                                     stream()>>>(q, k, v, dout, g.lse, g.dsum, static_cast<T*>(g.dk),
                                                 static_cast<T*>(g.dv), a.cu_q, a.cu_k, a.seqs, a.hq, a.hkv, a.hd,
                                                 a.scale);
      CUDA_CHECK(cudaGetLastError());
    });
  });
}

void attention_backward_prepare(const AttentionArgs& a, DType dtype, const AttentionGrads& g) {
  dispatch_float(dtype, "attention_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t rows = a.nq * a.hq;
    if (rows > 0)
      dsum_kernel<T><<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), kThreads, 0, stream()>>>(
          g.dsum, static_cast<const T*>(g.dout), static_cast<const T*>(g.out), rows, a.hd);
    CUDA_CHECK(cudaGetLastError());
    if (a.nk > 0)
      zero_tail_kernel<T><<<64, 256, 0, stream()>>>(static_cast<T*>(g.dk), static_cast<T*>(g.dv), a.cu_k, a.seqs,
                                                   int64_t{a.hkv} * a.hd, a.nk * a.hkv * a.hd);
    CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace stepwise::kernels::cuda
