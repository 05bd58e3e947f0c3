// Flash-attention forward (bf16, head_dim 64 or 128) on tensor cores: causal, grouped-query, varlen.
// A block of 4 warps takes 64 query rows of one head (16 per warp, kept as A fragments in registers) and walks
// the keys they can see in tiles of 64: S = Q K^T into registers, an online softmax in base 2 (running max and
// sum per row, the output rescaled when the max grows), then O += P V with P fed from registers. Neither S nor P
// ever reaches memory. Tiles: 64 x 64 keeps S (32 f32), O (up to 64 f32) and Q (32 regs) per thread within the
// register file at 4 warps, and K and V tiles (17 KB each at hd 128) within static shared memory.
// Loads are cp.async, pipelined as in FlashAttention-2: V_j streams in while S_j is computed, K_{j+1} while P_j V_j
// is. Blocks are issued heaviest first (the last query tiles see the most keys) so the tail of the grid is short.
#include <cmath>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/mma.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kThreads = 128, kBr = 64, kBc = 64;

template <int HD>
__global__ void __launch_bounds__(kThreads)
    flash_forward_kernel(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                         bf16* __restrict__ out, float* __restrict__ lse, const int32_t* __restrict__ cu_q,
                         const int32_t* __restrict__ cu_k, int hq, int hkv, float scale_log2) {
  constexpr int S = HD + 8;   // padded smem row
  constexpr int KC = HD / 16;  // k-steps of Q K^T
  constexpr int NT = kBc / 8;  // n-tiles of S per warp
  constexpr int DT = HD / 8;   // n-tiles of O per warp
  __shared__ __align__(16) bf16 sK[kBc * S];
  __shared__ __align__(16) bf16 sV[kBc * S];

  const int h = blockIdx.x, seq = blockIdx.y, tile = gridDim.z - 1 - blockIdx.z;
  const int q0 = cu_q[seq], lq = cu_q[seq + 1] - q0, k0 = cu_k[seq], lk = cu_k[seq + 1] - k0;
  const int i0 = tile * kBr;
  if (i0 >= lq) return;
  const int off = lk - lq;  // query i sees keys j <= i + off
  const int kh = h / (hq / hkv);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, g = lane / 4, t = lane % 4;
  const int64_t q_stride = int64_t{hq} * HD, kv_stride = int64_t{hkv} * HD;
  const bf16* qb = q + (int64_t{q0} * hq + h) * HD;
  const bf16* kb = k + (int64_t{k0} * hkv + kh) * HD;
  const bf16* vb = v + (int64_t{k0} * hkv + kh) * HD;

  // This warp's 16 query rows as A fragments, staged through sV (free until the first V tile).
  uint32_t qf[KC][4];
  load_a_fragments<kBr, HD, kThreads>(qf, sV, qb, q_stride, i0, lq, warp, lane);

  const int row_a = i0 + warp * 16 + g, row_b = row_a + 8;  // the two rows this thread's fragments hold
  const int kend = max(0, min(lk, min(i0 + kBr, lq) - 1 + off + 1));
  const int tiles = (kend + kBc - 1) / kBc;
  float o[DT][4] = {};
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;  // running max (base-2 units), partial sums

  if (tiles > 0) {
    load_tile_async<kBc, HD, kThreads>(sK, kb, kv_stride, 0, lk);
    cp_async_commit();
  }
  for (int j = 0; j < tiles; ++j) {
    const int kt0 = j * kBc;
    load_tile_async<kBc, HD, kThreads>(sV, vb, kv_stride, kt0, lk);
    cp_async_commit();
    cp_async_wait<1>();  // K_j has landed; V_j may still be in flight
    __syncthreads();

    float sc[NT][4] = {};
#pragma unroll
    for (int kc = 0; kc < KC; ++kc)
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, b_pair_addr(sK, S, np * 16, kc * 16, lane));
        mma_16816(sc[2 * np], qf[kc], b[0], b[1]);
        mma_16816(sc[2 * np + 1], qf[kc], b[2], b[3]);
      }
    __syncthreads();  // every warp is done with sK
    if (j + 1 < tiles) {
      load_tile_async<kBc, HD, kThreads>(sK, kb, kv_stride, kt0 + kBc, lk);
      cp_async_commit();
    }

    // Mask keys past the sequence or past a row's causal limit (only tiles that reach either need it).
    if (kt0 + kBc > lk || kt0 + kBc - 1 > i0 + off)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = kt0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? row_a : row_b;
          if (key >= lk || key > row + off) sc[nt][e] = -INFINITY;
        }

    // Online softmax. Each row's 64 scores are spread over the 4 threads of a quad (lanes 4g..4g+3).
    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      mx_a = fmaxf(mx_a, fmaxf(sc[nt][0], sc[nt][1]));
      mx_b = fmaxf(mx_b, fmaxf(sc[nt][2], sc[nt][3]));
    }
#pragma unroll
    for (int o2 = 1; o2 < 4; o2 <<= 1) {
      mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, o2));
      mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, o2));
    }
    const float new_a = fmaxf(m_a, mx_a * scale_log2), new_b = fmaxf(m_b, mx_b * scale_log2);
    // A row with nothing visible yet keeps max -inf; subtracting 0 instead keeps its exponentials at 0, not NaN.
    const float base_a = new_a == -INFINITY ? 0.0f : new_a, base_b = new_b == -INFINITY ? 0.0f : new_b;
    const float corr_a = exp2f(m_a - base_a), corr_b = exp2f(m_b - base_b);
    m_a = new_a;
    m_b = new_b;
    float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      sc[nt][0] = exp2f(sc[nt][0] * scale_log2 - base_a);
      sc[nt][1] = exp2f(sc[nt][1] * scale_log2 - base_a);
      sc[nt][2] = exp2f(sc[nt][2] * scale_log2 - base_b);
      sc[nt][3] = exp2f(sc[nt][3] * scale_log2 - base_b);
      sum_a += sc[nt][0] + sc[nt][1];
      sum_b += sc[nt][2] + sc[nt][3];
    }
    l_a = l_a * corr_a + sum_a;  // quad-partial; reduced once at the end
    l_b = l_b * corr_b + sum_b;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][0] *= corr_a;
      o[dt][1] *= corr_a;
      o[dt][2] *= corr_b;
      o[dt][3] *= corr_b;
    }

    if (j + 1 < tiles)
      cp_async_wait<1>();  // V_j has landed; K_{j+1} may still be in flight
    else
      cp_async_wait<0>();
    __syncthreads();
#pragma unroll
    for (int kc = 0; kc < kBc / 16; ++kc) {
      uint32_t pa[4];
      c_to_a(pa, sc[2 * kc], sc[2 * kc + 1]);
      mma_a_times_tile_rows<HD>(o, pa, sV, S, kc * 16, lane);
    }
    __syncthreads();  // every warp is done with sV
  }

#pragma unroll
  for (int o2 = 1; o2 < 4; o2 <<= 1) {
    l_a += __shfl_xor_sync(0xffffffffu, l_a, o2);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, o2);
  }
  // Rows that see no key at all (a query ahead of every key) get 0 and lse = -inf, as in the CPU reference.
  const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f, inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
  if (row_a < lq) {
    bf16* dst = out + (int64_t{q0 + row_a} * hq + h) * HD + 2 * t;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) = __floats2bfloat162_rn(o[dt][0] * inv_a, o[dt][1] * inv_a);
    if (t == 0) lse[int64_t{q0 + row_a} * hq + h] = l_a > 0.0f ? (m_a + log2f(l_a)) / kLog2e : -INFINITY;
  }
  if (row_b < lq) {
    bf16* dst = out + (int64_t{q0 + row_b} * hq + h) * HD + 2 * t;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) = __floats2bfloat162_rn(o[dt][2] * inv_b, o[dt][3] * inv_b);
    if (t == 0) lse[int64_t{q0 + row_b} * hq + h] = l_b > 0.0f ? (m_b + log2f(l_b)) / kLog2e : -INFINITY;
  }
}

template <int HD>
void launch_forward(const AttentionArgs& a, void* out, float* lse) {
  const dim3 grid(static_cast<unsigned>(a.hq), static_cast<unsigned>(a.seqs),
                  static_cast<unsigned>((a.max_q + kBr - 1) / kBr));
  flash_forward_kernel<HD><<<grid, kThreads, 0, stream()>>>(
      static_cast<const bf16*>(a.q), static_cast<const bf16*>(a.k), static_cast<const bf16*>(a.v),
      static_cast<bf16*>(out), lse, a.cu_q, a.cu_k, a.hq, a.hkv, a.scale * kLog2e);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void flash_attention_forward(const AttentionArgs& a, void* out, float* lse) {
  if (a.max_q == 0) return;
  if (a.hd == 128)
    launch_forward<128>(a, out, lse);
  else if (a.hd == 64)
    launch_forward<64>(a, out, lse);
  else
    fail(StatusCode::kInternal, "flash_attention_forward: head_dim ", a.hd, " (64 or 128 only)");
}

}  // namespace stepwise::kernels::cuda
