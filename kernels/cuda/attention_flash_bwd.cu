// Flash-attention backward (bf16, head_dim 64 or 128) on tensor cores, recomputing probabilities from the saved
// log-sum-exp (P = exp(S - lse)) instead of storing them. With D_i = dO_i . O_i (attention_backward_prepare):
//   dV = P^T dO,  dS = P * (dO V^T - D),  dK = scale * dS^T Q,  dQ = scale * dS K.
// Two kernels, neither with atomics (FlashAttention-2 adds dQ with atomics; here gradients are the same run to run,
// at the price of recomputing S and dO V^T once more in the dQ kernel):
//   dK/dV: a block owns 64 keys of one KV head (16 per warp) and loops over the query heads of its group and the
//          query tiles (32 rows) that see those keys, accumulating dK and dV in registers. Each warp computes the
//          transposed products S^T = K Q^T and dP^T = V dO^T for its own keys, so P^T and dS^T go straight from
//          registers into dV += P^T dO and dK += dS^T Q.
//   dQ:    a block owns 64 query rows of one head (Q and dO as register fragments) and walks key tiles of 32.
// Tile sizes keep the accumulators (dK + dV, or dQ: 64-128 f32 per thread at hd 128) and the transient products
// within the register file at 4 warps per block.
#include <cmath>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/mma.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kKeysPerBlock = 64, kQueryTile = 32;  // dK/dV kernel
constexpr int kRowsPerBlock = 64, kKeyTile = 32;    // dQ kernel

template <int HD>
constexpr size_t dkdv_smem_bytes() {
  return size_t{2 * kKeysPerBlock + 2 * kQueryTile} * (HD + 8) * sizeof(bf16) + 2 * kQueryTile * sizeof(float);
}

// Writes a warp's 16 x HD accumulator (rows r_a = row0 + g and r_a + 8 of a head slice) as bf16, times `mul`.
template <int HD>
__device__ __forceinline__ void store_rows(bf16* base, int64_t row_stride, int row_a, int valid, const float acc[][4],
                                           float mul, int t) {
  if (row_a < valid) {
    bf16* dst = base + row_a * row_stride + 2 * t;
#pragma unroll
    for (int dt = 0; dt < HD / 8; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) = __floats2bfloat162_rn(acc[dt][0] * mul, acc[dt][1] * mul);
  }
  if (row_a + 8 < valid) {
    bf16* dst = base + (row_a + 8) * row_stride + 2 * t;
#pragma unroll
    for (int dt = 0; dt < HD / 8; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) = __floats2bfloat162_rn(acc[dt][2] * mul, acc[dt][3] * mul);
  }
}

template <int HD>
__global__ void __launch_bounds__(kThreads)
    flash_dkdv_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                      const bf16* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dsum,
                      bf16* __restrict__ dk, bf16* __restrict__ dv, const int32_t* __restrict__ cu_q,
                      const int32_t* __restrict__ cu_k, int hq, int hkv, float scale_log2, float scale) {
  constexpr int S = HD + 8, KC = HD / 16, DT = HD / 8, NT = kQueryTile / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* sK = reinterpret_cast<bf16*>(smem);
  bf16* sV = sK + kKeysPerBlock * S;
  bf16* sQ = sV + kKeysPerBlock * S;
  bf16* sdO = sQ + kQueryTile * S;
  float* sL = reinterpret_cast<float*>(sdO + kQueryTile * S);  // lse of the tile's queries, base-2 units
  float* sD = sL + kQueryTile;

  const int kh = blockIdx.x, seq = blockIdx.y, j0 = blockIdx.z * kKeysPerBlock;
  const int q0 = cu_q[seq], lq = cu_q[seq + 1] - q0, k0 = cu_k[seq], lk = cu_k[seq + 1] - k0;
  if (j0 >= lk) return;
  const int off = lk - lq, group = hq / hkv;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, g = lane / 4, t = lane % 4;
  const int64_t q_stride = int64_t{hq} * HD, kv_stride = int64_t{hkv} * HD;
  const int64_t kv_offset = (int64_t{k0} * hkv + kh) * HD;

  load_tile_async<kKeysPerBlock, HD, kThreads>(sK, k + kv_offset, kv_stride, j0, lk);
  load_tile_async<kKeysPerBlock, HD, kThreads>(sV, v + kv_offset, kv_stride, j0, lk);
  cp_async_commit();

  float dk_acc[DT][4] = {}, dv_acc[DT][4] = {};
  const int key_a = j0 + warp * 16 + g, key_b = key_a + 8;
  const int first_tile = max(0, j0 - off) / kQueryTile * kQueryTile;  // first query tile that sees key j0
  for (int hh = 0; hh < group; ++hh) {
    const int h = kh * group + hh;
    const int64_t q_offset = (int64_t{q0} * hq + h) * HD;
    for (int i0 = first_tile; i0 < lq; i0 += kQueryTile) {
      load_tile_async<kQueryTile, HD, kThreads>(sQ, q + q_offset, q_stride, i0, lq);
      load_tile_async<kQueryTile, HD, kThreads>(sdO, dout + q_offset, q_stride, i0, lq);
      cp_async_commit();
      if (threadIdx.x < kQueryTile) {
        const int i = i0 + threadIdx.x;
        const bool in = i < lq;
        sL[threadIdx.x] = in ? lse[int64_t{q0 + i} * hq + h] * kLog2e : INFINITY;
        sD[threadIdx.x] = in ? dsum[int64_t{q0 + i} * hq + h] : 0.0f;
      }
      cp_async_wait<0>();
      __syncthreads();

      // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x the tile's 32 queries.
      float st[NT][4] = {}, dpt[NT][4] = {};
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        uint32_t ak[4], av[4];
        ldmatrix_x4(ak, a_frag_addr(sK, S, warp * 16, kc * 16, lane));
        ldmatrix_x4(av, a_frag_addr(sV, S, warp * 16, kc * 16, lane));
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          uint32_t b[4];
          ldmatrix_x4(b, b_pair_addr(sQ, S, np * 16, kc * 16, lane));
          mma_16816(st[2 * np], ak, b[0], b[1]);
          mma_16816(st[2 * np + 1], ak, b[2], b[3]);
          ldmatrix_x4(b, b_pair_addr(sdO, S, np * 16, kc * 16, lane));
          mma_16816(dpt[2 * np], av, b[0], b[1]);
          mma_16816(dpt[2 * np + 1], av, b[2], b[3]);
        }
      }
      // P^T and dS^T; a tile needs masking when it has rows past the sequence or keys past a query's limit.
      const bool need_mask = i0 + kQueryTile > lq || j0 + kKeysPerBlock - 1 > i0 + off;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = nt * 8 + 2 * t + (e & 1), qi = i0 + col, key = e < 2 ? key_a : key_b;
          const bool visible = !need_mask || (qi < lq && key <= qi + off);
          const float p = visible ? exp2f(st[nt][e] * scale_log2 - sL[col]) : 0.0f;
          dpt[nt][e] = p * (dpt[nt][e] - sD[col]);
          st[nt][e] = p;
        }
      // dV += P^T dO and dK += dS^T Q (scaled at the end), contracting over the tile's queries.
#pragma unroll
      for (int kc = 0; kc < kQueryTile / 16; ++kc) {
        uint32_t pa[4], da[4];
        c_to_a(pa, st[2 * kc], st[2 * kc + 1]);
        c_to_a(da, dpt[2 * kc], dpt[2 * kc + 1]);
        mma_a_times_tile_rows<HD>(dv_acc, pa, sdO, S, kc * 16, lane);
        mma_a_times_tile_rows<HD>(dk_acc, da, sQ, S, kc * 16, lane);
      }
      __syncthreads();  // before the next tile overwrites sQ, sdO, sL, sD
    }
  }
  cp_async_wait<0>();  // the K/V copies, when no query tile ran

  store_rows<HD>(dk + kv_offset, kv_stride, key_a, lk, dk_acc, scale, t);
  store_rows<HD>(dv + kv_offset, kv_stride, key_a, lk, dv_acc, 1.0f, t);
}

template <int HD>
__global__ void __launch_bounds__(kThreads)
    flash_dq_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                    const bf16* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dsum,
                    bf16* __restrict__ dq, const int32_t* __restrict__ cu_q, const int32_t* __restrict__ cu_k, int hq,
                    int hkv, float scale_log2, float scale) {
  constexpr int S = HD + 8, KC = HD / 16, DT = HD / 8, NT = kKeyTile / 8;
  // One buffer: first the staging area for the 64-row Q and dO tiles, then the K and V tiles of 32 rows each.
  __shared__ __align__(16) bf16 smem[2 * kKeyTile * S];
  static_assert(kRowsPerBlock == 2 * kKeyTile, "the staging area holds one 64-row tile");
  bf16* sK = smem;
  bf16* sV = smem + kKeyTile * S;

  const int h = blockIdx.x, seq = blockIdx.y, tile = gridDim.z - 1 - blockIdx.z;
  const int q0 = cu_q[seq], lq = cu_q[seq + 1] - q0, k0 = cu_k[seq], lk = cu_k[seq + 1] - k0;
  const int i0 = tile * kRowsPerBlock;
  if (i0 >= lq) return;
  const int off = lk - lq, kh = h / (hq / hkv);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, g = lane / 4, t = lane % 4;
  const int64_t q_stride = int64_t{hq} * HD, kv_stride = int64_t{hkv} * HD;
  const int64_t q_offset = (int64_t{q0} * hq + h) * HD, kv_offset = (int64_t{k0} * hkv + kh) * HD;

  uint32_t qf[KC][4], dof[KC][4];
  load_a_fragments<kRowsPerBlock, HD, kThreads>(qf, smem, q + q_offset, q_stride, i0, lq, warp, lane);
  load_a_fragments<kRowsPerBlock, HD, kThreads>(dof, smem, dout + q_offset, q_stride, i0, lq, warp, lane);

  const int row_a = i0 + warp * 16 + g, row_b = row_a + 8;
  // Rows past the sequence get lse = +inf, so their probabilities are 0.
  const float lse_a = row_a < lq ? lse[int64_t{q0 + row_a} * hq + h] * kLog2e : INFINITY;
  const float lse_b = row_b < lq ? lse[int64_t{q0 + row_b} * hq + h] * kLog2e : INFINITY;
  const float d_a = row_a < lq ? dsum[int64_t{q0 + row_a} * hq + h] : 0.0f;
  const float d_b = row_b < lq ? dsum[int64_t{q0 + row_b} * hq + h] : 0.0f;
  const int kend = max(0, min(lk, min(i0 + kRowsPerBlock, lq) - 1 + off + 1));

  float dq_acc[DT][4] = {};
  for (int kt0 = 0; kt0 < kend; kt0 += kKeyTile) {
    load_tile_async<kKeyTile, HD, kThreads>(sK, k + kv_offset, kv_stride, kt0, lk);
    load_tile_async<kKeyTile, HD, kThreads>(sV, v + kv_offset, kv_stride, kt0, lk);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    float sc[NT][4] = {}, dp[NT][4] = {};
#pragma unroll
    for (int kc = 0; kc < KC; ++kc)
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, b_pair_addr(sK, S, np * 16, kc * 16, lane));
        mma_16816(sc[2 * np], qf[kc], b[0], b[1]);
        mma_16816(sc[2 * np + 1], qf[kc], b[2], b[3]);
        ldmatrix_x4(b, b_pair_addr(sV, S, np * 16, kc * 16, lane));
        mma_16816(dp[2 * np], dof[kc], b[0], b[1]);
        mma_16816(dp[2 * np + 1], dof[kc], b[2], b[3]);
      }
    const bool need_mask = kt0 + kKeyTile > lk || kt0 + kKeyTile - 1 > i0 + off;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = kt0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? row_a : row_b;
        const bool visible = !need_mask || (key < lk && key <= row + off);
        const float p = visible ? exp2f(sc[nt][e] * scale_log2 - (e < 2 ? lse_a : lse_b)) : 0.0f;
        dp[nt][e] = p * (dp[nt][e] - (e < 2 ? d_a : d_b));
      }
#pragma unroll
    for (int kc = 0; kc < kKeyTile / 16; ++kc) {
      uint32_t da[4];
      c_to_a(da, dp[2 * kc], dp[2 * kc + 1]);
      mma_a_times_tile_rows<HD>(dq_acc, da, sK, S, kc * 16, lane);
    }
    __syncthreads();  // before the next tiles overwrite sK, sV
  }
  store_rows<HD>(dq + q_offset, q_stride, row_a, lq, dq_acc, scale, t);
}

template <int HD>
void launch_backward(const AttentionArgs& a, const AttentionGrads& gr) {
  const auto* q = static_cast<const bf16*>(a.q);
  const auto* k = static_cast<const bf16*>(a.k);
  const auto* v = static_cast<const bf16*>(a.v);
  const auto* dout = static_cast<const bf16*>(gr.dout);
  const float scale_log2 = a.scale * kLog2e;
  constexpr size_t smem = dkdv_smem_bytes<HD>();
  static const bool configured = [] {  // above the 48 KB default at hd 128
    CUDA_CHECK(cudaFuncSetAttribute(flash_dkdv_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
    return true;
  }();
  (void)configured;
  const dim3 dkdv_grid(static_cast<unsigned>(a.hkv), static_cast<unsigned>(a.seqs),
                       static_cast<unsigned>((a.max_k + kKeysPerBlock - 1) / kKeysPerBlock));
  if (dkdv_grid.z > 0) {
    flash_dkdv_kernel<HD><<<dkdv_grid, kThreads, smem, stream()>>>(
        q, k, v, dout, gr.lse, gr.dsum, static_cast<bf16*>(gr.dk), static_cast<bf16*>(gr.dv), a.cu_q, a.cu_k, a.hq,
        a.hkv, scale_log2, a.scale);
    CUDA_CHECK(cudaGetLastError());
  }
  const dim3 dq_grid(static_cast<unsigned>(a.hq), static_cast<unsigned>(a.seqs),
                     static_cast<unsigned>((a.max_q + kRowsPerBlock - 1) / kRowsPerBlock));
  if (dq_grid.z > 0) {
    flash_dq_kernel<HD><<<dq_grid, kThreads, 0, stream()>>>(q, k, v, dout, gr.lse, gr.dsum,
                                                            static_cast<bf16*>(gr.dq), a.cu_q, a.cu_k, a.hq, a.hkv,
                                                            scale_log2, a.scale);
    CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace

void flash_attention_backward(const AttentionArgs& a, const AttentionGrads& g) {
  if (a.hd == 128)
    launch_backward<128>(a, g);
  else if (a.hd == 64)
    launch_backward<64>(a, g);
  else
    fail(StatusCode::kInternal, "flash_attention_backward: head_dim ", a.hd, " (64 or 128 only)");
}

}  // namespace stepwise::kernels::cuda
