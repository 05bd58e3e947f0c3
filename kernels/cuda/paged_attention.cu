// The serving engine's paged KV cache on CUDA (kernels/ops.h, PagedLayout): paged_kv_write scatters a step's keys
// and values into their pool rows; paged_attention_forward attends over each sequence's keys through its block
// table. f32 or bf16 storage, f32 arithmetic; no atomics, so results are the same run to run.
//
// paged_attention_forward is a split-KV ("flash-decoding") design. Decoding has one query per sequence, so a grid
// of one block per (query, head) is tiny: 16 blocks for Qwen3-0.6B at batch 1 on the H200's 132 SMs, each walking
// the whole context alone. Instead the grid is (query row, KV head [x chunk of its query heads], KV split):
//   - a block owns one query row, one KV head and up to kMaxHeads of that head's query heads (grouped-query: K and
//     V are read once for the group rather than once per query head); Qwen3's groups are 2 to 8 heads, so one
//     block holds them all;
//   - the key range [0, visible) of the row is cut into splits of split_keys keys, enough splits for about
//     kBlocksPerSm blocks per SM and none shorter than kMinSplitKeys, so that a long context at batch 1 still
//     fills the GPU while a large batch or a prefill chunk runs with one split;
//   - inside a block each of the 4 warps takes 32 keys at a time, one key per lane: the lane finds the key's pool
//     row through the block table (block_tables[s, j / block_size] * block_size + j % block_size), forms the dot
//     products with every query head of the block (query rows in shared memory, the key row in 16-byte loads) and
//     the warp keeps an online softmax (max, sum, unnormalised output) per head; the V rows are then read by the
//     whole warp, each lane owning head dims lane, lane + 32, ...; the warps are merged in warp order at the end;
//   - with one split the block writes the normalised output; otherwise it writes its (max, sum, output) partial to
//     scratch and paged_combine_kernel, one block per (query row, query head), merges the splits in split order.
// Prefill chunks (Lq > 1) take the same path, each query row on its own with its causal limit
// j <= i + (Lk - Lq); correct, but a chunk's rows re-read their shared keys (from L2) and use no tensor cores.
// The split sizing uses layout.max_k, but the last split runs to the row's last visible key, so a max_k below the
// true longest sequence costs parallelism, not correctness.
// Checked against the CPU reference by tests/gpu/gpu_paged_attention_test.cpp (run by tests/gpu/run_gpu_checks.sh).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kWarps = 4, kThreads = kWarps * kWarp;
constexpr int kMaxHeadDim = 256;
constexpr int kMaxDims = kMaxHeadDim / kWarp;  // head dims each lane owns in the output accumulators
constexpr int kMaxHeads = 8;                   // query heads per block (Qwen3-32B's group: 64 / 8)
constexpr int kBlocksPerSm = 2;                // split until the grid has about this many blocks per SM
constexpr int kMinSplitKeys = 64;              // below this a split's fixed costs (q, merges, partial) dominate

struct PagedArgs {
  const int32_t* cu_q;
  const int32_t* seq_lens;
  const int32_t* block_tables;
  int seqs, max_blocks, block_size;
  int hq, hkv, hd;
  int split_keys;  // keys per split; the last split runs to the row's last visible key
  float scale;
  float2* part_ml;  // [nq, hq, splits] (max, sum) of each split, when there is more than one
  float* part_o;    // [nq, hq, splits, hd] unnormalised output of each split
};

// sc[g] = dot(q_g, key) for the block's query heads: q rows (f32, hd apart) in shared memory, the key in 16-byte
// packs. The q reads are warp broadcasts (every lane reads the same address), 16 bytes at a time when V allows.
template <class T, int V, int kHeads>
__device__ __forceinline__ void scores(float (&sc)[kHeads], const float* sq, const T* key, int hd) {
  for (int d = 0; d < hd; d += V) {
    const Pack<T, V> kp = load_pack<T, V>(key + d);
    float kf[V];
#pragma unroll
    for (int i = 0; i < V; ++i) kf[i] = to_float(kp.e[i]);
#pragma unroll
    for (int g = 0; g < kHeads; ++g) {
      const float* qg = sq + g * hd + d;
      if constexpr (V % 4 == 0) {
#pragma unroll
        for (int i = 0; i < V; i += 4) {
          const float4 q4 = *reinterpret_cast<const float4*>(qg + i);
          sc[g] += q4.x * kf[i] + q4.y * kf[i + 1] + q4.z * kf[i + 2] + q4.w * kf[i + 3];
        }
      } else {
#pragma unroll
        for (int i = 0; i < V; ++i) sc[g] += qg[i] * kf[i];
      }
    }
  }
}

// Block (query row, KV head x head chunk, split); see the file comment. Query heads past the group (a chunk of
// kHeads over a smaller group) get zero query rows: they compute harmless scores and are never written.
template <class T, int V, int kHeads>
__global__ void __launch_bounds__(kThreads)
    paged_split_kernel(const T* __restrict__ q, const T* __restrict__ k_pool, const T* __restrict__ v_pool,
                       T* __restrict__ out, PagedArgs a) {
  const int64_t row = blockIdx.x;
  const int group = a.hq / a.hkv, chunks = (group + kHeads - 1) / kHeads;
  const int kh = blockIdx.y / chunks, h0 = kh * group + static_cast<int>(blockIdx.y % chunks) * kHeads;
  const int heads = min(kHeads, (kh + 1) * group - h0);
  const int split = blockIdx.z, splits = gridDim.z;
  const int s = find_sequence(a.cu_q, a.seqs, row);
  if (s < 0) return;  // a row no sequence owns is left as it is, as on the CPU
  const int lq = a.cu_q[s + 1] - a.cu_q[s], lk = a.seq_lens[s];
  const int visible = max(0, min(lk, static_cast<int>(row - a.cu_q[s]) + lk - lq + 1));
  const int begin = min(visible, split * a.split_keys);
  const int end = split + 1 == splits ? visible : min(visible, begin + a.split_keys);
  const int32_t* table = a.block_tables + int64_t{s} * a.max_blocks;
  const int hd = a.hd, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;

  __shared__ __align__(16) float sq[kHeads * kMaxHeadDim];
  __shared__ float s_m[kWarps][kHeads], s_l[kWarps][kHeads], s_acc[kWarps][kHeads][kMaxHeadDim];
  for (int i = threadIdx.x; i < kHeads * hd; i += kThreads)
    sq[i] = i / hd < heads ? to_float(q[(row * a.hq + h0) * hd + i]) : 0.0f;
  __syncthreads();

  float m[kHeads], l[kHeads], acc[kHeads][kMaxDims] = {};
#pragma unroll
  for (int g = 0; g < kHeads; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
  }
  for (int j0 = begin + warp * kWarp; j0 < end; j0 += kThreads) {
    const int j = j0 + lane;
    const int slot = j < end ? table[j / a.block_size] * a.block_size + j % a.block_size : 0;
    float sc[kHeads] = {}, p[kHeads];
    if (j < end) scores<T, V, kHeads>(sc, sq, k_pool + (int64_t{slot} * a.hkv + kh) * hd, hd);
#pragma unroll
    for (int g = 0; g < kHeads; ++g) {
      const float x = j < end ? a.scale * sc[g] : -INFINITY;
      const float m_new = fmaxf(m[g], warp_max(x));  // finite: lane 0's key is visible
      const float corr = expf(m[g] - m_new);
      p[g] = expf(x - m_new);
      l[g] = l[g] * corr + warp_sum(p[g]);
      m[g] = m_new;
#pragma unroll
      for (int c = 0; c < kMaxDims; ++c) acc[g][c] *= corr;
    }
    const int n = min(kWarp, end - j0);
    for (int jj = 0; jj < n; ++jj) {
      const T* vr = v_pool + (int64_t{__shfl_sync(0xffffffffu, slot, jj)} * a.hkv + kh) * hd;
      float vv[kMaxDims];
#pragma unroll
      for (int c = 0; c < kMaxDims; ++c) vv[c] = lane + c * kWarp < hd ? to_float(vr[lane + c * kWarp]) : 0.0f;
#pragma unroll
      for (int g = 0; g < kHeads; ++g) {
        const float pj = __shfl_sync(0xffffffffu, p[g], jj);
#pragma unroll
        for (int c = 0; c < kMaxDims; ++c) acc[g][c] += pj * vv[c];
      }
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int g = 0; g < kHeads; ++g) {
      s_m[warp][g] = m[g];
      s_l[warp][g] = l[g];
    }
  }
#pragma unroll
  for (int g = 0; g < kHeads; ++g)
#pragma unroll
    for (int c = 0; c < kMaxDims; ++c)
      if (lane + c * kWarp < hd) s_acc[warp][g][lane + c * kWarp] = acc[g][c];
  __syncthreads();

  for (int i = threadIdx.x; i < heads * hd; i += kThreads) {
    const int g = i / hd, d = i % hd;
    float big = -INFINITY;
    for (int w = 0; w < kWarps; ++w) big = fmaxf(big, s_m[w][g]);
    float total = 0.0f, o = 0.0f;
    for (int w = 0; w < kWarps; ++w)
      if (s_m[w][g] != -INFINITY) {  // a warp with no keys
        const float e = expf(s_m[w][g] - big);
        total += s_l[w][g] * e;
        o += s_acc[w][g][d] * e;
      }
    const int64_t oh = row * a.hq + h0 + g;
    if (splits == 1) {
      out[oh * hd + d] = from_float<T>(total > 0.0f ? o / total : 0.0f);  // no visible key: 0, as on the CPU
    } else {
      a.part_o[(oh * splits + split) * hd + d] = o;
      if (d == 0) a.part_ml[oh * splits + split] = make_float2(big, total);
    }
  }
}

// Block (query row, query head): out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s over the splits s, M = max m_s.
template <class T>
__global__ void paged_combine_kernel(T* __restrict__ out, const float2* __restrict__ part_ml,
                                     const float* __restrict__ part_o, const int32_t* __restrict__ cu_q, int seqs,
                                     int hq, int hd, int splits) {
  const int64_t row = blockIdx.x;
  if (row >= cu_q[seqs]) return;
  const int64_t oh = row * hq + blockIdx.y;
  const float2* ml = part_ml + oh * splits;
  float big = -INFINITY, total = 0.0f;
  for (int sp = 0; sp < splits; ++sp) big = fmaxf(big, ml[sp].x);
  for (int sp = 0; sp < splits; ++sp)
    if (ml[sp].x != -INFINITY) total += ml[sp].y * expf(ml[sp].x - big);  // empty splits have max -inf
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int sp = 0; sp < splits; ++sp)
      if (ml[sp].x != -INFINITY) o += part_o[(oh * splits + sp) * hd + d] * expf(ml[sp].x - big);
    out[oh * hd + d] = from_float<T>(total > 0.0f ? o / total : 0.0f);
  }
}

// Block per row i: k_pool[slots[i]] = k[i], v_pool[slots[i]] = v[i]. PagedStep::check validated the slots on the
// host; a slot outside the pool is skipped rather than written over memory the pool does not own.
template <class T, int V>
__global__ void paged_kv_write_kernel(T* __restrict__ k_pool, T* __restrict__ v_pool, const T* __restrict__ k,
                                      const T* __restrict__ v, const int32_t* __restrict__ slots, int64_t pool_rows,
                                      int row_elems) {
  const int64_t i = blockIdx.x, slot = slots[i];
  if (slot < 0 || slot >= pool_rows) return;
  for (int e = threadIdx.x * V; e < row_elems; e += kThreads * V) {
    store_pack<T, V>(k_pool + slot * row_elems + e, load_pack<T, V>(k + i * row_elems + e));
    store_pack<T, V>(v_pool + slot * row_elems + e, load_pack<T, V>(v + i * row_elems + e));
  }
}

// Calls f(integral_constant<int, H>) with H the query heads per block: the group size rounded up to a power of two,
// at most kMaxHeads (larger groups are split into chunks of kMaxHeads). Sizing H to the group keeps the per-lane
// accumulators (H x kMaxDims registers) no larger than the group needs.
template <class F>
void with_heads(int group, F&& f) {
  if (group <= 1) return f(std::integral_constant<int, 1>{});
  if (group <= 2) return f(std::integral_constant<int, 2>{});
  if (group <= 4) return f(std::integral_constant<int, 4>{});
  f(std::integral_constant<int, kMaxHeads>{});
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void paged_kv_write(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v, const Tensor& slots) {
  expect_same_dtype("paged_kv_write", k, v);
  expect_same_dtype("paged_kv_write", k_pool, v_pool);
  const int64_t n = k.size(0);
  const int row_elems = static_cast<int>(k.size(1) * k.size(2));
  if (n == 0) return;
  dispatch_float(k.dtype(), "paged_kv_write", [&](auto tag) {
    using T = decltype(tag);
    const auto launch = [&](auto vec) {
      paged_kv_write_kernel<T, decltype(vec)::value><<<static_cast<unsigned>(n), kThreads, 0, stream()>>>(
          ptr<T>(k_pool), ptr<T>(v_pool), ptr<const T>(k), ptr<const T>(v), ptr<const int32_t>(slots),
          k_pool.size(0), row_elems);
    };
    if (vectorizable<T>(row_elems, {k_pool.data(), v_pool.data(), k.data(), v.data()}))
      launch(std::integral_constant<int, kVec<T>>{});
    else
      launch(std::integral_constant<int, 1>{});
  });
  CUDA_CHECK(cudaGetLastError());
}

void paged_attention_forward(Tensor& out, const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedLayout& layout, float scale) {
  const char* op = "paged_attention_forward";
  expect_same_dtype(op, q, k_pool);
  expect_same_dtype(op, q, v_pool);
  expect_same_dtype(op, q, out);
  if (q.size(2) > kMaxHeadDim)
    fail(StatusCode::kInternal, op, " on CUDA supports head_dim up to ", kMaxHeadDim, ", got ", q.size(2));
  const int64_t nq = q.size(0);
  if (nq == 0) return;
  PagedArgs a{ptr<const int32_t>(layout.cu_q),
              ptr<const int32_t>(layout.seq_lens),
              ptr<const int32_t>(layout.block_tables),
              static_cast<int>(layout.seq_lens.numel()),
              static_cast<int>(layout.block_tables.size(1)),
              static_cast<int>(layout.block_size),
              static_cast<int>(q.size(1)),
              static_cast<int>(k_pool.size(1)),
              static_cast<int>(q.size(2)),
              0,
              scale,
              nullptr,
              nullptr};
  const int group = a.hq / a.hkv;
  with_heads(group, [&](auto heads_tag) {
    constexpr int kHeads = decltype(heads_tag)::value;
    const int64_t head_blocks = a.hkv * ceil_div(group, kHeads);
    const int64_t wanted = ceil_div(int64_t{kBlocksPerSm} * sm_count(), nq * head_blocks);
    int64_t splits = std::max<int64_t>(1, std::min(wanted, ceil_div(layout.max_k, kMinSplitKeys)));
    a.split_keys = static_cast<int>(ceil_div(ceil_div(layout.max_k, splits), kWarp) * kWarp);
    if (a.split_keys > 0) splits = std::max<int64_t>(1, ceil_div(layout.max_k, a.split_keys));  // no empty tail
    if (splits > 1) {
      const int64_t parts = nq * a.hq * splits;
      auto* base = static_cast<char*>(scratch(Scratch::kAttention, static_cast<size_t>(parts * (8 + 4 * a.hd))));
      a.part_ml = reinterpret_cast<float2*>(base);
      a.part_o = reinterpret_cast<float*>(base + parts * 8);
    }
    const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(head_blocks), static_cast<unsigned>(splits));
    dispatch_float(q.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      const auto launch = [&](auto vec) {
        paged_split_kernel<T, decltype(vec)::value, kHeads><<<grid, kThreads, 0, stream()>>>(
            ptr<const T>(q), ptr<const T>(k_pool), ptr<const T>(v_pool), ptr<T>(out), a);
      };
      if (vectorizable<T>(a.hd, {k_pool.data()}))  // only key rows are read in packs
        launch(std::integral_constant<int, kVec<T>>{});
      else
        launch(std::integral_constant<int, 1>{});
      CUDA_CHECK(cudaGetLastError());
      if (splits > 1)
        paged_combine_kernel<T><<<dim3(static_cast<unsigned>(nq), static_cast<unsigned>(a.hq)), kThreads, 0,
                                  stream()>>>(ptr<T>(out), a.part_ml, a.part_o, a.cu_q, a.seqs, a.hq, a.hd,
                                              static_cast<int>(splits));
      CUDA_CHECK(cudaGetLastError());
    });
  });
}

}  // namespace stepwise::kernels::cuda
