// CUDA elementwise helpers: residual add, i32 increment, scaling, sum of squares (gradient norms) and float-format
// conversion.
// Grid-stride loops over 16-byte packs where sizes and addresses allow, single elements otherwise.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

__device__ __forceinline__ int64_t thread_index() { return blockIdx.x * int64_t{blockDim.x} + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t{gridDim.x} * blockDim.x; }

constexpr int kThreads = 256;

template <class T, int V>
__global__ void add_kernel(T* y, const T* x, float alpha, int64_t packs) {
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    Pack<T, V> a = load_pack<T, V>(y + i * V);
    const Pack<T, V> b = load_pack<T, V>(x + i * V);
#pragma unroll
    for (int j = 0; j < V; ++j) a.e[j] = from_float<T>(to_float(a.e[j]) + alpha * to_float(b.e[j]));
    store_pack<T, V>(y + i * V, a);
  }
}

__global__ void increment_kernel(int32_t* x, int32_t delta, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) x[i] += delta;
}

template <class T, int V>
__global__ void scale_kernel(T* x, float alpha, int64_t packs) {
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    Pack<T, V> a = load_pack<T, V>(x + i * V);
#pragma unroll
    for (int j = 0; j < V; ++j) a.e[j] = from_float<T>(to_float(a.e[j]) * alpha);
    store_pack<T, V>(x + i * V, a);
  }
}

// Stage 1 of the sum of squares: one double partial per block, reduced in a fixed order (deterministic).
template <class T>
__global__ void sum_squares_partial(const T* x, int64_t n, double* partial) {
  double acc = 0;
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const double v = to_float(x[i]);
    acc += v * v;
  }
  acc = block_reduce(acc, [](double a, double b) { return a + b; });
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}
__global__ void sum_partials(const double* partial, int count, double* result) {
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_reduce(acc, [](double a, double b) { return a + b; });
  if (threadIdx.x == 0) *result = acc;
}

// Conversion moves 4 elements per access (16 bytes of f32, 8 of bf16/f16) when aligned.
template <class D, class S, int V>
__global__ void convert_kernel(D* dst, const S* src, int64_t packs) {
  for (int64_t i = thread_index(); i < packs; i += thread_count()) {
    const Pack<S, V> a = load_pack<S, V>(src + i * V);
    Pack<D, V> b;
#pragma unroll
    for (int j = 0; j < V; ++j) b.e[j] = from_float<D>(to_float(a.e[j]));
    store_pack<D, V>(dst + i * V, b);
  }
}

// Launches kernel<T, V> over n elements, V = 16-byte packs when every pointer and n allow it, else 1.
template <class T, template <class, int> class Launch, class... Args>
void launch_packed(int64_t n, std::initializer_list<const void*> ptrs, Args... args) {
  if (vectorizable<T>(n, ptrs))
    Launch<T, kVec<T>>::run(n / kVec<T>, args...);
  else
    Launch<T, 1>::run(n, args...);
}

template <class T, int V>
struct AddLaunch {
  static void run(int64_t packs, T* y, const T* x, float alpha) {
    add_kernel<T, V><<<grid_for(packs, kThreads), kThreads, 0, stream()>>>(y, x, alpha, packs);
  }
};
template <class T, int V>
struct ScaleLaunch {
  static void run(int64_t packs, T* x, float alpha) {
    scale_kernel<T, V><<<grid_for(packs, kThreads), kThreads, 0, stream()>>>(x, alpha, packs);
  }
};

}  // namespace

void add(Tensor& y, const Tensor& x, float alpha) {
  expect_same_dtype("add", y, x);
  if (y.numel() == 0) return;
  dispatch_float(y.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    launch_packed<T, AddLaunch>(y.numel(), {y.data(), x.data()}, ptr<T>(y), ptr<const T>(x), alpha);
  });
  CUDA_CHECK(cudaGetLastError());
}

void increment(Tensor& x, int32_t delta) {
  const int64_t n = x.numel();
  if (n == 0) return;
  increment_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(ptr<int32_t>(x), delta, n);
  CUDA_CHECK(cudaGetLastError());
}

void scale(Tensor& x, float alpha) {
  if (x.numel() == 0) return;
  dispatch_float(x.dtype(), "scale", [&](auto tag) {
    using T = decltype(tag);
    launch_packed<T, ScaleLaunch>(x.numel(), {x.data()}, ptr<T>(x), alpha);
  });
  CUDA_CHECK(cudaGetLastError());
}

// One scratch block: the results first, then the partials of the tensor being reduced (reused tensor after
// tensor: the launches are ordered on one stream). One copy and one synchronisation for the whole list.
std::vector<double> sum_squares_each(const std::vector<Tensor>& xs) {
  std::vector<double> results(xs.size(), 0.0);
  unsigned max_blocks = 0;
  for (const Tensor& x : xs)
    if (x.numel() > 0) max_blocks = std::max(max_blocks, grid_for(x.numel(), kThreads));
  if (max_blocks == 0) return results;
  double* sums = static_cast<double*>(scratch(Scratch::kPartials, (xs.size() + max_blocks) * sizeof(double)));
  double* partial = sums + xs.size();
  CUDA_CHECK(cudaMemsetAsync(sums, 0, xs.size() * sizeof(double), stream()));
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    const int64_t n = x.numel();
    if (n == 0) continue;
    const unsigned blocks = grid_for(n, kThreads);
    dispatch_float(x.dtype(), "sum_squares", [&](auto tag) {
      using T = decltype(tag);
      sum_squares_partial<T><<<blocks, kThreads, 0, stream()>>>(ptr<const T>(x), n, partial);
    });
    CUDA_CHECK(cudaGetLastError());
    sum_partials<<<1, 1024, 0, stream()>>>(partial, static_cast<int>(blocks), sums + i);
    CUDA_CHECK(cudaGetLastError());
  }
  CUDA_CHECK(cudaMemcpyAsync(results.data(), sums, xs.size() * sizeof(double), cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  return results;
}

void convert(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  if (dst.dtype() == src.dtype()) {
    CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  dispatch_float<true>(dst.dtype(), "convert", [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_float<true>(src.dtype(), "convert", [&](auto stag) {
      using S = decltype(stag);
      constexpr int V = 4;
      const bool packed = n % V == 0 && reinterpret_cast<uintptr_t>(dst.data()) % (V * sizeof(D)) == 0 &&
                          reinterpret_cast<uintptr_t>(src.data()) % (V * sizeof(S)) == 0;
      if (packed)
        convert_kernel<D, S, V><<<grid_for(n / V, kThreads), kThreads, 0, stream()>>>(ptr<D>(dst), ptr<const S>(src),
                                                                                      n / V);
      else
        convert_kernel<D, S, 1><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(ptr<D>(dst), ptr<const S>(src), n);
    });
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
