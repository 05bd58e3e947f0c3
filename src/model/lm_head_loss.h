// The LM head and cross-entropy, fused and chunked: logits are formed a chunk of rows at a time, reduced to
// per-row statistics (across TP ranks, for a vocab-parallel head, without gathering logits), and turned into
// gradients in place, so the full [N, V] logits never exist. The statistics of every row stay on the device until
// the last chunk is queued and are read back once: the host never waits between chunks, so the GPU runs the whole
// head without a gap.
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
  Tensor logits;                          // f32 [chunk, V_local]
  Tensor dlogits;                         // [chunk, V_local] in the compute dtype when that is not f32
  Tensor row_max, sum_exp, target_logit;  // f32 [rows]: the statistics of every row of a call
  std::shared_ptr<void> block, stats_block;
  static LmHeadScratch create(int64_t chunk, int64_t vocab_local, DType compute_dtype, Device device);
  // Grows the per-row statistics to hold `rows` rows (lm_head_loss sizes them for its call).
  void reserve_rows(int64_t rows);
};

// h: final hidden states [N, D]; w: LM head [V_local, D]; targets: i32 [N] on the device and the same on the
// host (masked < 0). When dh is given: dh = grad_scale * d(sum of losses)/dh (all-reduced over TP) and
// dw += grad_scale * d(sum of losses)/dw.
LossSum lm_head_loss(const Tensor& h, const Tensor& w, const Tensor& targets, const std::vector<int32_t>& host_targets,
                     const Qwen3LocalDims& dims, Communicator& tp, LmHeadScratch& scratch, Tensor* dh, Tensor* dw,
                     float grad_scale);

}  // namespace stepwise
