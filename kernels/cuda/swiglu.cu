// CUDA SwiGLU on the fused gate/up projection: out = silu(gate) * up, gate_up[N, 2F] = [gate | up] per row.
// Elementwise and memory-bound: 16-byte packs along F when F and the addresses allow.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

// Pack index p covers elements [p * V, p * V + V) of the [N, F] output.
template <class T, int V>
__global__ void swiglu_forward_kernel(T* out, const T* gate_up, int64_t packs, int64_t f) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < packs; p += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = p * V, r = e / f, c = e % f;
    const Pack<T, V> g = load_pack<T, V>(gate_up + r * 2 * f + c), u = load_pack<T, V>(gate_up + r * 2 * f + f + c);
    Pack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float gj = to_float(g.e[j]);
      o.e[j] = from_float<T>(gj / (1.0f + expf(-gj)) * to_float(u.e[j]));
    }
    store_pack<T, V>(out + e, o);
  }
}

// silu'(g) = sig(g) * (1 + g * (1 - sig(g))).
template <class T, int V>
__global__ void swiglu_backward_kernel(T* dgate_up, const T* dout, const T* gate_up, int64_t packs, int64_t f) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < packs; p += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = p * V, r = e / f, c = e % f;
    const Pack<T, V> g = load_pack<T, V>(gate_up + r * 2 * f + c), u = load_pack<T, V>(gate_up + r * 2 * f + f + c);
    const Pack<T, V> d = load_pack<T, V>(dout + e);
    Pack<T, V> dg, du;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float gj = to_float(g.e[j]), uj = to_float(u.e[j]), dj = to_float(d.e[j]);
      const float sig = sigmoid(gj);
      du.e[j] = from_float<T>(dj * (gj * sig));
      dg.e[j] = from_float<T>(dj * uj * sig * (1.0f + gj * (1.0f - sig)));
    }
    store_pack<T, V>(dgate_up + r * 2 * f + c, dg);
    store_pack<T, V>(dgate_up + r * 2 * f + f + c, du);
  }
}

}  // namespace

void swiglu_forward(Tensor& out, const Tensor& gate_up) {
  expect_same_dtype("swiglu_forward", out, gate_up);
  const int64_t n = out.numel(), f = out.size(1);
  if (n == 0) return;
  dispatch_float(out.dtype(), "swiglu_forward", [&](auto tag) {
    using T = decltype(tag);
    if (vectorizable<T>(f, {out.data(), gate_up.data()}))
      swiglu_forward_kernel<T, kVec<T>><<<grid_for(n / kVec<T>, 256), 256, 0, stream()>>>(
          ptr<T>(out), ptr<const T>(gate_up), n / kVec<T>, f);
    else
      swiglu_forward_kernel<T, 1><<<grid_for(n, 256), 256, 0, stream()>>>(ptr<T>(out), ptr<const T>(gate_up), n, f);
  });
  CUDA_CHECK(cudaGetLastError());
}

void swiglu_backward(Tensor& dgate_up, const Tensor& dout, const Tensor& gate_up) {
  expect_same_dtype("swiglu_backward", dgate_up, gate_up);
  expect_same_dtype("swiglu_backward", dout, gate_up);
  const int64_t n = dout.numel(), f = dout.size(1);
  if (n == 0) return;
  dispatch_float(dout.dtype(), "swiglu_backward", [&](auto tag) {
    using T = decltype(tag);
    if (vectorizable<T>(f, {dgate_up.data(), dout.data(), gate_up.data()}))
      swiglu_backward_kernel<T, kVec<T>><<<grid_for(n / kVec<T>, 256), 256, 0, stream()>>>(
          ptr<T>(dgate_up), ptr<const T>(dout), ptr<const T>(gate_up), n / kVec<T>, f);
    else
      swiglu_backward_kernel<T, 1><<<grid_for(n, 256), 256, 0, stream()>>>(ptr<T>(dgate_up), ptr<const T>(dout),
                                                                            ptr<const T>(gate_up), n, f);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
