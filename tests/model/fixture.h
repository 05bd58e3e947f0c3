// The Hugging Face fixtures (tests/data/fixtures/qwen3-tiny-*): a model directory plus float64 references
// computed by transformers from exactly the saved weights; and how close the f32 CPU model must come to them.
#pragma once

#include <string>
#include <vector>

#include "../common/numerics.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/batch.h"
#include "model/qwen3.h"

namespace stepwise::testing {

struct Fixture {
  std::string dir;
  Qwen3Config config;
  SafetensorsCheckpoint ref;
  int64_t rows = 0, cols = 0;      // input_ids is [rows, cols]
  std::vector<int64_t> input_ids;  // row-major
  std::vector<int64_t> labels;     // -100 inside each row's prompt

  static Fixture load(const std::string& name);
  std::vector<int32_t> row_tokens(int64_t r) const;
  std::vector<int32_t> row_labels(int64_t r) const;
  TokenBatch packed_batch() const;  // every row a document of one packed batch
  std::vector<double> ref_f64(const std::string& name) const { return ref.read_f64(name); }
  // max |logit| / loss of the float64 reference: how a bound on the logits carries over to the loss.
  double logit_scale() const;
};

// The f32 model against float64, at the same weights. Every f32 result is the exact one times (1 + d), |d| <= u;
// matmuls, attention, norms' statistics and the loss's sums accumulate in f64 and round once, so reduction lengths
// do not enter and what counts is the number of f32 roundings on the longest path to a quantity: about 20 per layer
// forward (RMSNorm 3, projection 1, q/k norm 3, RoPE 2, attention 1, o_proj 1, residual 1, RMSNorm 3, gate/up 1,
// SwiGLU 3, down 1, residual 1) plus 4 for the final norm and the LM head, and about 40 per layer backward (each
// op's backward rounds about twice per forward rounding) plus 2 for the head. A relative perturbation reaches the
// result scaled by the conditioning kConditioning: at these fixtures' scale (init std 0.02, so each layer adds a
// small correction to a residual stream that RMSNorm rescales; softmax over at most 33 keys) a layer's gain is
// O(1), and 10 allows an order of magnitude for cancellation and the softmax and SwiGLU curvature.
constexpr double kConditioning = 10;
// Logits, max-norm relative.
inline double fixture_logits_bound(int64_t layers) { return (20.0 * layers + 4) * kF32Unit * kConditioning; }
// The mean loss: each token's log-sum-exp and target logit move by at most the logits' largest change, so the loss
// by at most twice that; relative to the loss, 2 * (logits bound) * max |logit| / loss (logit_scale()).
inline double loss_bound_from_logits(double logits_bound, double scale) {
  return 2 * logits_bound * scale;
}
// max |logit| / loss of a model on a batch (the logit scale at other weights than the reference's).
double logit_scale(Qwen3Model& model, const TokenBatch& batch, double loss);
// A gradient, L2 relative per tensor; also the global gradient norm, which moves by at most the whole model's.
inline double fixture_gradient_bound(int64_t layers) {
  return (20.0 * layers + 4 + 40.0 * layers + 2) * kF32Unit * kConditioning;
}
// After `steps` AdamW steps at learning rate lr, the median over a tensor's elements of |w - w_float64|. The median
// leaves out the elements whose gradient came within the rounding noise of zero, where AdamW's first update,
// lr * g / (|g| + eps), turns a rounding-level difference into up to 2 lr (issue 11): they are few (in qwen3-tiny-a
// 51 of 175,040 have |g| < 1e-7), far fewer than half of any tensor. For the others AdamW's update
// lr * m / (sqrt(v) + eps), at most lr, moves by at most 2e relative when the gradients move by e relative (m
// linearly, sqrt(v) by at most as much): by 2 lr e per step, with e the gradient bound (assumed to hold at the
// later steps too: the few amplified weights perturb the gradients far less, 4e-6 relative in tiny-b's norm); and
// the f32 optimizer rounds each weight twice per step (decay, update), 2 u |w|.
inline double fixture_median_weight_bound(int64_t layers, int steps, double lr, double max_abs_weight) {
  return steps * (2 * lr * fixture_gradient_bound(layers) + 2 * kF32Unit * max_abs_weight);
}

}  // namespace stepwise::testing
