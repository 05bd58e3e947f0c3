// CUDA vocab-parallel embedding: row gather forward; deterministic scatter-add backward.
// The backward pass must add every token's gradient into its row of the f32 table gradient. Atomics would make
// the sum order (and so the bits) vary run to run, so the ids are grouped by row on the host (one small copy, at
// the end of the backward pass where the wait costs nothing) and one block per touched row adds its tokens in
// token order, which is also the order of the CPU reference.
#include <algorithm>
#include <vector>

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

// Block per touched row u: dtable[rows[u]] += dout[order[k]] for k in [offsets[u], offsets[u+1]), in order.
template <class T>
__global__ void embedding_backward_kernel(float* dtable, const T* dout, const int32_t* rows, const int32_t* offsets,
                                          const int32_t* order, int d) {
  const int u = blockIdx.x;
  float* dst = dtable + int64_t{rows[u]} * d;
  const int k0 = offsets[u], k1 = offsets[u + 1];
  for (int i = threadIdx.x; i < d; i += kThreads) {
    float acc = dst[i];
    for (int k = k0; k < k1; ++k) acc += to_float(dout[int64_t{order[k]} * d + i]);
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
  const int64_t n = ids.numel(), v_local = dtable.size(0);
  const int d = static_cast<int>(dtable.size(1));
  if (n == 0) return;
  // Counting sort of the tokens by local row, stable in token order.
  // Pageable destination, read only after the synchronisation (which also ends any upload from the staging below).
  std::vector<int32_t> host_ids(static_cast<size_t>(n));
  CUDA_CHECK(cudaMemcpyAsync(host_ids.data(), ids.data(), ids.nbytes(), cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  std::vector<int32_t> count(static_cast<size_t>(v_local) + 1, 0);
  for (int32_t id : host_ids) {
    const int64_t row = id - vocab_start;
    if (row >= 0 && row < v_local) ++count[static_cast<size_t>(row) + 1];
  }
  // index = [rows (U) | offsets (U + 1) | order (tokens in range)], uploaded as one block.
  std::vector<int32_t> rows, offsets{0};
  for (int64_t r = 0; r < v_local; ++r)
    if (count[static_cast<size_t>(r) + 1] > 0) {
      rows.push_back(static_cast<int32_t>(r));
      offsets.push_back(offsets.back() + count[static_cast<size_t>(r) + 1]);
    }
  if (rows.empty()) return;
  for (int64_t r = 0; r < v_local; ++r) count[static_cast<size_t>(r) + 1] += count[static_cast<size_t>(r)];
  std::vector<int32_t> order(static_cast<size_t>(offsets.back()));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t row = host_ids[static_cast<size_t>(t)] - vocab_start;
    if (row < 0 || row >= v_local) continue;
    order[static_cast<size_t>(count[static_cast<size_t>(row)]++)] = static_cast<int32_t>(t);
  }
  // Staged in pinned memory that outlives this call (the copy may still be reading it when the function returns);
  // the stream was synchronised above, so the previous call's upload from it has completed.
  const size_t index_bytes = (rows.size() + offsets.size() + order.size()) * sizeof(int32_t);
  int32_t* staged = static_cast<int32_t*>(pinned_staging(index_bytes));
  std::copy(rows.begin(), rows.end(), staged);
  std::copy(offsets.begin(), offsets.end(), staged + rows.size());
  std::copy(order.begin(), order.end(), staged + rows.size() + offsets.size());
  int32_t* dev = static_cast<int32_t*>(scratch(Scratch::kIndex, index_bytes));
  CUDA_CHECK(cudaMemcpyAsync(dev, staged, index_bytes, cudaMemcpyHostToDevice, stream()));
  const int32_t* dev_rows = dev;
  const int32_t* dev_offsets = dev + rows.size();
  const int32_t* dev_order = dev_offsets + offsets.size();
  dispatch_float(dout.dtype(), "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    embedding_backward_kernel<T><<<static_cast<unsigned>(rows.size()), kThreads, 0, stream()>>>(
        ptr<float>(dtable), ptr<const T>(dout), dev_rows, dev_offsets, dev_order, d);
  });
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace stepwise::kernels::cuda
