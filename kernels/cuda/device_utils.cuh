// Device-side helpers shared by the kernels: element conversion to and from f32, 16-byte packs for vectorised
// access, warp and block reductions, the varlen row-to-sequence lookup, grid sizing, and the host-side dispatch
// from a DType to a C++ element type.
// Kernels compute in f32 whatever the storage type (bf16 activations, f32 gradients and statistics).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_context.h"

namespace stepwise::kernels::cuda {

using bf16 = __nv_bfloat16;

constexpr int kWarp = 32;

template <class T> __device__ __forceinline__ float to_float(T x);
template <> __device__ __forceinline__ float to_float(float x) { return x; }
template <> __device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }

// V consecutive elements moved as one access: V = 16 / sizeof(T) gives 16-byte loads and stores, V = 1 is the
// fallback for rows whose length or address is not a multiple of 16 bytes.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T e[V];
};
template <class T, int V>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}
template <class T, int V>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}
template <class T>
constexpr int kVec = 16 / sizeof(T);

// True when every row of `row_elems` elements starting at each pointer can be accessed 16 bytes at a time.
template <class T>
bool vectorizable(int64_t row_elems, std::initializer_list<const void*> ptrs) {
  if (row_elems % kVec<T> != 0) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduction over a whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. The order
// of operations is fixed, so results are the same run to run.
template <class T, class Op>
__device__ T block_reduce(T v, Op op) {
  __shared__ T partial[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  for (int o = kWarp / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = partial[0];
  for (int w = 1; w < warps; ++w) v = op(v, partial[w]);
  return v;
}

// Sequence s holding row `row` of a varlen layout (the last s with cu[s] <= row), or -1 past cu[seqs]: the attention
// kernels' grids run over rows, and a row finds its sequence by binary search of the cumulative lengths.
__device__ __forceinline__ int find_sequence(const int32_t* cu, int seqs, int64_t row) {
  if (row >= cu[seqs]) return -1;
  int lo = 0, hi = seqs;  // cu[lo] <= row < cu[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (cu[mid] <= row) lo = mid; else hi = mid;
  }
  return lo;
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, no more than the work needs.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t needed = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(needed, int64_t{sm_count()} * 16)));
}

// Calls f(T{}) with T the element type of `dtype`: f32 or bf16, and f16 when kWithF16 (conversions, optimizer
// copies). Only the listed types are instantiated.
template <bool kWithF16 = false, class F>
void dispatch_float(DType dtype, const char* op, F&& f) {
  if (dtype == DType::kF32) return f(float{});
  if (dtype == DType::kBF16) return f(bf16{});
  if constexpr (kWithF16)
    if (dtype == DType::kF16) return f(__half{});
  fail(StatusCode::kInternal, op, ": the CUDA backend has no kernel for ", dtype_name(dtype), " tensors");
}

// Operand dtype checks for the CUDA kernels, which support fewer combinations than the interface's shapes allow.
inline void expect_dtype(const char* op, const char* name, const Tensor& t, DType dtype) {
  if (t.dtype() != dtype)
    fail(StatusCode::kInternal, op, " on CUDA: ", name, " is ", t.describe(), ", expected ", dtype_name(dtype));
}
inline void expect_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    fail(StatusCode::kInternal, op, " on CUDA needs operands of one dtype, got ", a.describe(), " and ",
         b.describe());
}

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data());
}

}  // namespace stepwise::kernels::cuda
