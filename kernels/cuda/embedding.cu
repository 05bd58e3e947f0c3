// CUDA vocab-parallel embedding: row gather forward; deterministic scatter-add backward.
// The backward pass must add every token's gradient into its row of the f32 table gradient. Atomics would make
// the sum order (and so the bits) vary run to run, so the tokens are grouped by row on the device: CUB's radix sort
// of (local row, token index) pairs is stable, so within a row the tokens keep their order, and one block per
// touched row adds them in that order, the CPU reference's (bit-identical results). Nothing waits on the host:
// the sort works in grow-only scratch and the grid is the token count (an upper bound on the rows touched), so the
// pass does not stall the stream and, once the scratch has grown to the step's size, can be captured in a CUDA graph.
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_utils.cuh"

namespace stepwise::kernels::cuda {

namespace {

constexpr int kThreads = 128;

// Block per token; ids outside this rank's range give zero rows.
template <class T, int V>
__global__ void embedding_forward_kernel(T* out, const T* table, const int32_t* ids, int64_t vocab_start,
                                         int64_t v_local, int d) {
  const int64_t t = blockIdx.x;
  const int64_t row = ids[t] - vocab_start;
  const bool in_range = row >= 0 && row < v_local;
  for (int i = threadIdx.x * V; i < d; i += kThreads * V)
    store_pack<T, V>(out + t * d + i, in_range ? load_pack<T, V>(table + row * d + i) : Pack<T, V>{});
}

// Sort keys: the token's local row, or v_local (a sentinel that sorts last) for ids outside this rank's range;
// values: the token's index.
__global__ void embedding_keys_kernel(uint32_t* keys, int32_t* tokens, const int32_t* ids, int64_t vocab_start,
                                      int64_t v_local, int n) {
  const int t = blockIdx.x * kThreads + threadIdx.x;
  if (t >= n) return;
  const int64_t row = ids[t] - vocab_start;
  keys[t] = static_cast<uint32_t>(row >= 0 && row < v_local ? row : v_local);
  tokens[t] = t;
}

// Block per sorted position u; the first position of each row's run adds the whole run:
// dtable[row] += dout[order[k]] for k in [u, end of run), in token order (the sort is stable).
template <class T>
__global__ void embedding_backward_kernel(float* dtable, const T* dout, const uint32_t* keys, const int32_t* order,
                                          int n, uint32_t sentinel, int d) {
  const int u = blockIdx.x;
  const uint32_t row = keys[u];
  if (row == sentinel || (u > 0 && keys[u - 1] == row)) return;  // outside the range, or not the run's start
  int end = u + 1, hi = n;  // binary search for the run's end in the sorted keys
  while (end < hi) {
    const int mid = end + (hi - end) / 2;
    if (keys[mid] == row)
      end = mid + 1;
    else
      hi = mid;
  }
  float* dst = dtable + int64_t{row} * d;
  for (int i = threadIdx.x; i < d; i += kThreads) {
    float acc = dst[i];
    for (int k = u; k < end; ++k) acc += to_float(dout[int64_t{order[k]} * d + i]);
    dst[i] = acc;
  }
}

}  // namespace

void embedding_forward(Tensor& out, const Tensor& table, const Tensor& ids, int64_t vocab_start) {
  expect_same_dtype("embedding_forward", out, table);
  const int64_t n = ids.numel();
  const int d = static_cast<int>(table.size(1));
  if (n == 0) return;
  dispatch_float(table.dtype(), "embedding_forward", [&](auto tag) {
    using T = decltype(tag);
    if (vectorizable<T>(d, {out.data(), table.data()}))
      embedding_forward_kernel<T, kVec<T>><<<static_cast<unsigned>(n), kThreads, 0, stream()>>>(
          ptr<T>(out), ptr<const T>(table), ptr<const int32_t>(ids), vocab_start, table.size(0), d);
    else
      embedding_forward_kernel<T, 1><<<static_cast<unsigned>(n), kThreads, 0, stream()>>>(
          ptr<T>(out), ptr<const T>(table), ptr<const int32_t>(ids), vocab_start, table.size(0), d);
  });
  CUDA_CHECK(cudaGetLastError());
}

void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& ids, int64_t vocab_start) {
  expect_dtype("embedding_backward", "dtable (a parameter gradient)", dtable, DType::kF32);
  const int64_t v_local = dtable.size(0);
  const int n = static_cast<int>(ids.numel()), d = static_cast<int>(dtable.size(1));
  if (n == 0 || v_local == 0) return;
  // Keys go up to the sentinel v_local: sorting only its bits saves radix passes.
  int end_bit = 0;
  while ((int64_t{1} << end_bit) <= v_local) ++end_bit;
  // One scratch block: keys and token indices before and after the sort, then CUB's temporary storage.
  uint32_t* no_keys = nullptr;
  int32_t* no_tokens = nullptr;
  size_t temp_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, no_keys, no_keys, no_tokens, no_tokens, n, 0,
                                             end_bit, stream()));
  const size_t array_bytes = (static_cast<size_t>(n) * sizeof(int32_t) + 255) / 256 * 256;  // keeps 256-byte alignment
  char* base = static_cast<char*>(scratch(Scratch::kIndex, 4 * array_bytes + temp_bytes));
  auto* keys_in = reinterpret_cast<uint32_t*>(base);
  auto* keys = reinterpret_cast<uint32_t*>(base + array_bytes);
  auto* tokens_in = reinterpret_cast<int32_t*>(base + 2 * array_bytes);
  auto* order = reinterpret_cast<int32_t*>(base + 3 * array_bytes);
  embedding_keys_kernel<<<(n + kThreads - 1) / kThreads, kThreads, 0, stream()>>>(
      keys_in, tokens_in, ptr<const int32_t>(ids), vocab_start, v_local, n);
  CUDA_CHECK(cudaGetLastError());
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + 4 * array_bytes, temp_bytes, keys_in, keys, tokens_in, order, n,
                                             0, end_bit, stream()));
  // n blocks bound the number of rows touched; the ones that start no run return at once.
  dispatch_float(dout.dtype(), "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    embedding_backward_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, stream()>>>(
        ptr<float>(dtable), ptr<const T>(dout), keys, order, n, static_cast<uint32_t>(v_local), d);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
