// The CPU model with float32 accumulation (run.cpu_accumulation: float32, for speed) against Hugging Face's float64
// references: the same checks as the reference path's (qwen3_fixture_test.cpp), with bounds that add the error of
// f32 sums, and the float64 path beside it to show that the setting takes effect.
#include <gtest/gtest.h>

#include "fixture.h"
#include "model/hf_model.h"

namespace stepwise::testing {
namespace {

// With f32 accumulation each product of reduction length K adds at most gamma_K ~ K u relative to |A||B| (Higham
// (3.5)) to the f64 path's roundings (fixture.h). Along the longest forward path, per layer: the q/k/v and gate/up
// projections (K = hidden), the attention scores (head_dim) and their product with V (at most `keys`), o_proj
// (the query width) and down_proj (the intermediate size); then the LM head (hidden). The backward path adds the
// input gradients (the output widths: q + 2 kv, 2 F, hidden twice) and the weight gradients (K = the tokens).
// Scaled by the same conditioning as the roundings.
double forward_sum_terms(const Qwen3Config& c, int64_t keys) {
  const double D = c.hidden_size, q = c.num_heads * c.head_dim;
  return c.num_layers * (2 * D + c.head_dim + keys + q + c.intermediate_size) + D;
}
double backward_sum_terms(const Qwen3Config& c, int64_t keys, int64_t tokens) {
  const double D = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  return c.num_layers * (q + 2 * kv + 2.0 * c.intermediate_size + 2 * D + c.head_dim + keys) + tokens;
}

class CpuAccumulationFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuAccumulationFixture, Float32LogitsLossAndGradientsStayWithinTheirBounds) {
  const Fixture fx = Fixture::load(GetParam());
  const TokenBatch batch = fx.packed_batch();
  ModelOptions options;
  options.cpu_accumulation = kernels::CpuAccumulation::kFloat32;
  const auto fast = load_hf_model(fx.dir, options), reference = load_hf_model(fx.dir, ModelOptions{});
  const int64_t layers = fx.config.num_layers, keys = fx.cols, tokens = batch.size();

  const std::vector<float> logits = fast->forward_logits(batch).to_f32_vector();
  const double logits_bound =
      fixture_logits_bound(layers) + forward_sum_terms(fx.config, keys) * kF32Unit * kConditioning;
  const double logits_err = rel_error(logits, fx.ref_f64("logits"), Norm::kMax);
  std::printf("[%s float32] logits max rel error %.3g (bound %.3g)\n", GetParam().c_str(), logits_err, logits_bound);
  EXPECT_LE(logits_err, logits_bound);
  EXPECT_NE(logits, reference->forward_logits(batch).to_f32_vector()) << "float32 accumulation did not take effect";

  fast->zero_grads();
  const LossSum loss = fast->forward_backward(batch, 1.0f / static_cast<float>(batch.num_targets()));
  EXPECT_LE(rel_error(loss.mean(), fx.ref_f64("loss")[0]), loss_bound_from_logits(logits_bound, fx.logit_scale()));
  const double grad_bound = fixture_gradient_bound(layers) + (forward_sum_terms(fx.config, keys) +
                                                              backward_sum_terms(fx.config, keys, tokens)) *
                                                                 kF32Unit * kConditioning;
  double worst = 0;
  for (const Parameter& p : fast->parameters()) {
    const double err = rel_error(p.grad.to_f32_vector(), fx.ref_f64("grad." + p.name), Norm::kL2);
    worst = std::max(worst, err);
    EXPECT_LE(err, grad_bound) << p.name;
  }
  std::printf("[%s float32] worst gradient rel error %.3g (bound %.3g)\n", GetParam().c_str(), worst, grad_bound);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CpuAccumulationFixture,
                         ::testing::Values("qwen3-tiny-a", "qwen3-tiny-b", "qwen3-tiny-hd128"));

}  // namespace
}  // namespace stepwise::testing
