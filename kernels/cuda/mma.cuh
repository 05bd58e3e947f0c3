// Warp-level tensor-core building blocks for the flash-attention kernels (sm_80+ PTX, run on sm_90):
// mma.sync m16n8k16 (bf16 in, f32 accumulate), ldmatrix loads of fragments from shared memory, and cp.async
// copies from global to shared memory.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"), with g = lane / 4 and t = lane % 4:
//   A (16 x 16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16 x 8, "col": stored as [n][k]): b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g)
//   C (16 x 8, f32): c0, c1 = (g, 2t..2t+1), c2, c3 = (g+8, 2t..2t+1)
// Two adjacent C tiles (n 0-7 and 8-15) of one row block, rounded to bf16, are exactly an A fragment over k 0-15:
// the flash kernels feed softmax probabilities from one product into the next without touching shared memory.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace stepwise::kernels::cuda {

__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, and register i of lane l receives
// row l/4, elements 2(l%4) and 2(l%4)+1 of matrix i (with .trans: element l/4 of rows 2(l%4) and 2(l%4)+1).
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* row_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row_addr))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* row_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row_addr))
               : "memory");
}

// Row addresses for ldmatrix_x4 over a 16 x 16 block at (row0, col0) of a shared tile with rows `stride` elements
// apart, in the matrix order that yields each kind of fragment.
// A from a row-major tile: registers are a0..a3 (matrices rows 0-7 / 8-15 x cols 0-7, then the same x cols 8-15).
__device__ __forceinline__ const __nv_bfloat16* a_frag_addr(const __nv_bfloat16* tile, int stride, int row0, int col0,
                                                             int lane) {
  return tile + (row0 + lane % 16) * stride + col0 + (lane / 16) * 8;
}
// For B stored [n][k] (keys as rows, the contraction dim contiguous): registers {0, 1} are (b0, b1) of n-tile
// row0..row0+7 and {2, 3} of n-tile row0+8..row0+15, over k = col0..col0+15.
__device__ __forceinline__ const __nv_bfloat16* b_pair_addr(const __nv_bfloat16* tile, int stride, int row0, int col0,
                                                             int lane) {
  return tile + (row0 + (lane / 16) * 8 + lane % 8) * stride + col0 + ((lane / 8) % 2) * 8;
}
// For B stored [k][n] (used with ldmatrix_x4_trans): registers {0, 1} are (b0, b1) of n-tile col0..col0+7 and
// {2, 3} of n-tile col0+8..col0+15, over k = row0..row0+15.
__device__ __forceinline__ const __nv_bfloat16* bt_pair_addr(const __nv_bfloat16* tile, int stride, int row0,
                                                              int col0, int lane) {
  return tile + (row0 + ((lane / 8) % 2) * 8 + lane % 8) * stride + col0 + (lane / 16) * 8;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
// The A fragment (16 x 16 over k) made of C tiles c[0] (k 0-7) and c[1] (k 8-15).
__device__ __forceinline__ void c_to_a(uint32_t a[4], const float c0[4], const float c1[4]) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}

// acc (16 x HD as HD / 8 C tiles) += a (a 16 x 16 A fragment) times rows row0..row0+15 of a [k][n] shared tile with
// HD columns: the P·V-shaped product every attention kernel ends its inner loop with.
template <int HD>
__device__ __forceinline__ void mma_a_times_tile_rows(float (&acc)[HD / 8][4], const uint32_t a[4],
                                                      const __nv_bfloat16* tile, int stride, int row0, int lane) {
#pragma unroll
  for (int dp = 0; dp < HD / 16; ++dp) {
    uint32_t b[4];
    ldmatrix_x4_trans(b, bt_pair_addr(tile, stride, row0, dp * 16, lane));
    mma_16816(acc[2 * dp], a, b[0], b[1]);
    mma_16816(acc[2 * dp + 1], a, b[2], b[3]);
  }
}

// 16-byte asynchronous copy global -> shared; src_bytes = 0 writes zeros (rows past the end of a sequence).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Copies rows [first, first + ROWS) of a [*, HD] head slice (row r at base + r * row_stride) into a shared tile
// with row stride HD + 8 (the 16-byte pad puts the 8 rows an ldmatrix reads in distinct banks); rows at or past
// `valid` become zeros.
template <int ROWS, int HD, int THREADS>
__device__ __forceinline__ void load_tile_async(__nv_bfloat16* tile, const __nv_bfloat16* base, int64_t row_stride,
                                                int first, int valid) {
  constexpr int kChunks = HD / 8;  // 16-byte chunks per row
  for (int idx = threadIdx.x; idx < ROWS * kChunks; idx += THREADS) {
    const int r = idx / kChunks, c = idx % kChunks;
    const bool in = first + r < valid;
    const __nv_bfloat16* src = in ? base + (first + r) * row_stride + c * 8 : base;
    cp_async16(tile + r * (HD + 8) + c * 8, src, in ? 16 : 0);
  }
}

// Rows [first, first + ROWS) of a [*, HD] head slice as A fragments, each warp keeping its own 16 rows, staged
// through the shared tile `stage` (free on entry, free again on return); rows at or past `valid` are zeros.
template <int ROWS, int HD, int THREADS>
__device__ __forceinline__ void load_a_fragments(uint32_t (&frags)[HD / 16][4], __nv_bfloat16* stage,
                                                 const __nv_bfloat16* base, int64_t row_stride, int first, int valid,
                                                 int warp, int lane) {
  load_tile_async<ROWS, HD, THREADS>(stage, base, row_stride, first, valid);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int kc = 0; kc < HD / 16; ++kc) ldmatrix_x4(frags[kc], a_frag_addr(stage, HD + 8, warp * 16, kc * 16, lane));
  __syncthreads();
}

}  // namespace stepwise::kernels::cuda
