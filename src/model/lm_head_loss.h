// The LM head and cross-entropy, fused and chunked: logits are formed a chunk of rows at a time, reduced to
// per-row statistics (across TP ranks, for a vocab-parallel head, without gathering logits), and turned into
// gradients in place, so the full [N, V] logits never exist.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "distributed/communicator.h"
#include "model/qwen3_partition.h"

namespace stepwise {

struct LossSum {
  double sum = 0;      // sum of token losses (nats)
  int64_t count = 0;   // unmasked targets
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
};

struct LmHeadScratch {
  Tensor logits;                           // f32 [chunk, V_local]
  Tensor row_max, sum_exp, target_logit;   // f32 [chunk]
  Tensor dlogits;                          // [chunk, V_local] in the compute dtype when that is not f32
  std::shared_ptr<void> block;
  static LmHeadScratch create(int64_t chunk, int64_t vocab_local, DType compute_dtype, Device device);
};

// h: final hidden states [N, D]; w: LM head [V_local, D]; targets: i32 [N] on the device and the same on the
// host (masked < 0). When dh is given: dh = grad_scale * d(sum of losses)/dh (all-reduced over TP) and
// dw += grad_scale * d(sum of losses)/dw.
LossSum lm_head_loss(const Tensor& h, const Tensor& w, const Tensor& targets, const std::vector<int32_t>& host_targets,
                     const Qwen3LocalDims& dims, Communicator& tp, LmHeadScratch& scratch, Tensor* dh, Tensor* dw,
                     float grad_scale);

}  // namespace stepwise
