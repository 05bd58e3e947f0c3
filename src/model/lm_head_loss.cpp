// Chunked, vocab-parallel LM head + cross-entropy (forward and backward).
#include "model/lm_head_loss.h"

#include <cmath>

#include "core/arena.h"
#include "distributed/tensor_parallel.h"
#include "kernels/ops.h"

namespace stepwise {

LmHeadScratch LmHeadScratch::create(int64_t chunk, int64_t vocab_local, DType compute_dtype, Device device) {
  LmHeadScratch s;
  ArenaPlan plan;
  plan.add(&s.logits, {chunk, vocab_local}, DType::kF32);
  if (compute_dtype != DType::kF32) plan.add(&s.dlogits, {chunk, vocab_local}, compute_dtype);
  s.block = plan.allocate(device);
  s.reserve_rows(chunk);
  return s;
}

void LmHeadScratch::reserve_rows(int64_t rows) {
  if (stats_block && row_max.size(0) >= rows) return;
  stats_block.reset();  // free the old statistics before allocating the larger ones
  ArenaPlan plan;
  plan.add(&row_max, {rows}, DType::kF32);
  plan.add(&sum_exp, {rows}, DType::kF32);
  plan.add(&target_logit, {rows}, DType::kF32);
  stats_block = plan.allocate(logits.device());
}

LossSum lm_head_loss(const Tensor& h, const Tensor& w, const Tensor& targets, const std::vector<int32_t>& host_targets,
                     const Qwen3LocalDims& dims, Communicator& tp, LmHeadScratch& s, Tensor* dh, Tensor* dw,
                     float grad_scale) {
  const int64_t n = h.size(0), chunk = s.logits.size(0);
  s.reserve_rows(n);
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const int64_t r1 = std::min(n, r0 + chunk), c = r1 - r0;
    int64_t unmasked = 0;
    for (int64_t r = r0; r < r1; ++r) unmasked += host_targets[r] >= 0;
    if (unmasked == 0) {
      if (dh) dh->rows(r0, r1).zero();
      continue;
    }
    const Tensor hc = h.rows(r0, r1), tc = targets.rows(r0, r1);
    Tensor logits = s.logits.rows(0, c), row_max = s.row_max.rows(r0, r1), sum_exp = s.sum_exp.rows(r0, r1),
           target_logit = s.target_logit.rows(r0, r1);
    kernels::linear_forward(logits, hc, w);
    kernels::cross_entropy_row_max(row_max, logits);
    reduce_logit_max(tp, row_max);
    kernels::cross_entropy_sum_exp(sum_exp, target_logit, logits, row_max, tc, dims.vocab_start);
    reduce_logit_sums(tp, sum_exp, target_logit);
    if (!dh) continue;
    kernels::cross_entropy_backward(logits, row_max, sum_exp, tc, dims.vocab_start, grad_scale);
    // Mixed precision (bf16 head on CUDA): the matmul's operands share a dtype, so the f32 gradient chunk is
    // rounded to the head's dtype first, as autocast does; both products still accumulate in f32.
    Tensor dlogits = logits;
    if (w.dtype() != DType::kF32) {
      dlogits = s.dlogits.rows(0, c);
      kernels::convert(dlogits, logits);
    }
    Tensor dhc = dh->rows(r0, r1);
    kernels::linear_backward_input(dhc, dlogits, w, /*accumulate=*/false);
    kernels::linear_backward_weight(*dw, dlogits, hc);
  }
  if (dh) reduce_column_parallel_input_grad(tp, *dh);  // each rank contributed its vocabulary slice
  // Rows of chunks skipped above (all masked) hold stale statistics, but only unmasked rows are read.
  const std::vector<float> mx = s.row_max.rows(0, n).to_f32_vector(), se = s.sum_exp.rows(0, n).to_f32_vector(),
                           tl = s.target_logit.rows(0, n).to_f32_vector();
  LossSum loss;
  for (int64_t i = 0; i < n; ++i) {
    if (host_targets[i] < 0) continue;
    loss.sum += std::log(static_cast<double>(se[i])) + mx[i] - tl[i];
    ++loss.count;
  }
  return loss;
}

}  // namespace stepwise
