// cuda::attention_forward / attention_backward: choose a kernel family (see attention_kernels.h) and run it.
// The tensor-core kernels take bf16 at head_dim 64 or 128 with 16-byte aligned operands; forward also needs
// enough queries per sequence to fill their 64-row tiles (decoding steps, with one query per sequence, go row-wise).
#include <cstdint>

#include "core/status.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_ops.h"

namespace stepwise::kernels::cuda {

namespace {

constexpr int64_t kFlashMinQueries = 16;

bool aligned16(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (reinterpret_cast<uintptr_t>(t->data()) % 16 != 0) return false;
  return true;
}

AttentionArgs args(const Tensor& q, const Tensor& k, const Tensor& v, const SeqLayout& seqs, float scale) {
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype())
    fail(StatusCode::kInternal, "attention on CUDA needs q, k, v of one dtype, got ", q.describe(), ", ", k.describe(),
         ", ", v.describe());
  if (q.size(2) > kRowwiseMaxHeadDim)
    fail(StatusCode::kInternal, "attention on CUDA supports head_dim up to ", kRowwiseMaxHeadDim, ", got ", q.size(2));
  return {q.data(),
          k.data(),
          v.data(),
          static_cast<const int32_t*>(seqs.cu_q.data()),
          static_cast<const int32_t*>(seqs.cu_k.data()),
          q.size(0),
          k.size(0),
          static_cast<int>(seqs.cu_q.numel() - 1),
          static_cast<int>(q.size(1)),
          static_cast<int>(k.size(1)),
          static_cast<int>(q.size(2)),
          seqs.max_q,
          seqs.max_k,
          scale};
}

bool flash_shape(const Tensor& q) {
  return q.dtype() == DType::kBF16 && (q.size(2) == 64 || q.size(2) == 128);
}

}  // namespace

void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const SeqLayout& seqs, float scale) {
  const AttentionArgs a = args(q, k, v, seqs, scale);
  if (flash_shape(q) && seqs.max_q >= kFlashMinQueries && aligned16({&q, &k, &v, &out}))
    flash_attention_forward(a, out.data(), static_cast<float*>(lse.data()));
  else
    rowwise_attention_forward(a, q.dtype(), out.data(), static_cast<float*>(lse.data()));
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                        const Tensor& v, const Tensor& out, const Tensor& lse, const SeqLayout& seqs, float scale) {
  const AttentionArgs a = args(q, k, v, seqs, scale);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&dq, &dk, &dv, &dout, &out})
    if (t->dtype() != q.dtype())
      fail(StatusCode::kInternal, "attention_backward on CUDA: ", t->describe(), " differs in dtype from q ",
           q.describe());
  float* dsum = static_cast<float*>(scratch(Scratch::kAttention, static_cast<size_t>(q.size(0) * q.size(1)) * 4));
  const AttentionGrads g{dout.data(), out.data(), static_cast<const float*>(lse.data()), dsum, dq.data(), dk.data(),
                         dv.data()};
  attention_backward_prepare(a, q.dtype(), g);
  if (flash_shape(q) && aligned16({&q, &k, &v, &dout, &dq, &dk, &dv}))
    flash_attention_backward(a, g);
  else
    rowwise_attention_backward(a, q.dtype(), g);
}

}  // namespace stepwise::kernels::cuda
