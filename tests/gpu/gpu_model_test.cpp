// The whole Qwen3 model on the GPU against the Hugging Face fixtures (tests/data/fixtures, float64 references):
// logits, loss and every gradient, three AdamW steps, and greedy decoding (teacher-forced), in f32 (the precise mode)
// and in the mixed-precision mode training uses (bf16 weights and activations, f32 gradients and master weights).
// Then what the GPU path promises beyond matching numbers: gradients are the same bit for bit run to run and with
// activation recomputation, KV-cache decoding agrees with a full forward pass, and greedy steps replayed from a
// recorded CUDA graph choose exactly the tokens of steps run kernel by kernel. Last, a sanity check at
// Qwen3-0.6B's shapes (random weights), where the tiny fixtures cannot reach: its loss is what theory says.
// The fixtures are read from $STEPWISE_FIXTURES_DIR when set (run_gpu_checks.sh points it at the packed copy).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "fixture.h"
#include "gpu_test_util.h"
#include "io/hf_config.h"
#include "model/greedy_decoder.h"
#include "model/hf_model.h"
#include "train/adamw.h"

namespace stepwise::testing {
namespace {

// Tolerances against the float64 reference. f32 on the GPU accumulates matmuls in f32 (the CPU reference in f64),
// hence looser than the CPU test's; bf16 rounds every activation to 8 bits of mantissa.
struct Tolerances {
  double logits, loss, grads, adamw_params;
};
Tolerances tolerances(DType dtype) {
  if (dtype == DType::kF32) return {1e-4, 1e-5, 1e-4, 1e-3};
  return {3e-2, 1e-2, 5e-2, 5e-2};
}

ModelOptions gpu_options(DType dtype) {
  ModelOptions o;
  o.device = Device::kCUDA;
  o.compute_dtype = dtype;
  return o;
}

class GpuModel : public ::testing::TestWithParam<std::tuple<std::string, DType>> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    fx_ = std::make_unique<Fixture>(Fixture::load(std::get<0>(GetParam())));
    dtype_ = std::get<1>(GetParam());
    tol_ = tolerances(dtype_);
    model_ = load_hf_model(fx_->dir, gpu_options(dtype_));
  }
  std::string tag(const std::string& what) const {
    return std::get<0>(GetParam()) + " " + dtype_name(dtype_) + " " + what;
  }
  std::unique_ptr<Fixture> fx_;
  std::unique_ptr<Qwen3Model> model_;
  DType dtype_ = DType::kF32;
  Tolerances tol_{};
};

TEST_P(GpuModel, LogitsLossAndGradientsMatchReference) {
  const TokenBatch batch = fx_->packed_batch();
  const std::vector<float> logits = model_->forward_logits(batch).to_f32_vector();
  const double logits_err = rel_error(logits, fx_->ref_f64("logits"), Norm::kMax);
  std::printf("  %-48s max rel error %.3g (tolerance %.0e)\n", tag("logits").c_str(), logits_err, tol_.logits);
  EXPECT_LE(logits_err, tol_.logits);

  model_->zero_grads();
  const LossSum loss = model_->forward_backward(batch, 1.0f / static_cast<float>(batch.num_targets()));
  const double ref_loss = fx_->ref_f64("loss")[0], loss_err = std::fabs(loss.mean() - ref_loss) / ref_loss;
  std::printf("  %-48s %.8f vs %.8f, rel %.3g (tolerance %.0e)\n", tag("loss").c_str(), loss.mean(), ref_loss,
              loss_err, tol_.loss);
  EXPECT_LE(loss_err, tol_.loss);
  double worst = 0;
  for (const Parameter& p : model_->parameters()) {
    const double err = rel_error(p.grad.to_f32_vector(), fx_->ref_f64("grad." + p.name), Norm::kL2);
    worst = std::max(worst, err);
    EXPECT_LE(err, tol_.grads) << p.name;
  }
  std::printf("  %-48s worst norm rel error %.3g (tolerance %.0e)\n", tag("gradients").c_str(), worst, tol_.grads);
}

TEST_P(GpuModel, ThreeAdamWStepsMatchReference) {
  const TokenBatch batch = fx_->packed_batch();
  const std::vector<double> ref_losses = fx_->ref_f64("adamw_step_losses");
  const std::vector<double> ref_norms = fx_->ref_f64("adamw_grad_norms_before_clip");
  AdamW opt(model_->parameters(), AdamWConfig{});  // the fixture's recipe (see qwen3_fixture_test.cpp)
  for (int step = 0; step < 3; ++step) {
    model_->zero_grads();
    const LossSum loss = model_->forward_backward(batch, 1.0f / static_cast<float>(batch.num_targets()));
    model_->finish_gradients();
    const double norm = global_grad_norm(model_->parameters(), model_->tp());
    const double err = std::fabs(loss.mean() - ref_losses[step]) / ref_losses[step];
    const double norm_err = std::fabs(norm - ref_norms[step]) / ref_norms[step];
    std::printf("  %-48s step %d loss rel error %.3g, grad norm rel error %.3g\n", tag("adamw").c_str(), step, err,
                norm_err);
    EXPECT_LE(err, tol_.loss) << "step " << step;
    EXPECT_LE(norm_err, tol_.grads) << "step " << step;  // the norm sets the clip coefficient
    opt.step(1e-2f, norm);
  }
  double worst = 0;
  for (const Parameter& p : model_->parameters())
    worst = std::max(worst, rel_error(p.value.to_f32_vector(), fx_->ref_f64("after3." + p.name), Norm::kL2));
  std::printf("  %-48s worst parameter norm rel error %.3g (tolerance %.0e)\n", tag("after 3 steps").c_str(), worst,
              tol_.adamw_params);
  EXPECT_LE(worst, tol_.adamw_params);
}

// Greedy decoding, teacher-forced: the KV-cache path is fed the float64 reference's own greedy tokens, so that one
// near-tie cannot derail the rest of the sequence, and at every step our argmax must be the reference's token unless
// the reference's top-2 margin is too small for this precision to resolve. The logits test bounds our error by
// tol.logits * max|z| (max-norm relative, assumed to hold on this sequence as on the fixture's batch); the argmax can
// change only where the margin is at most twice that (the top logit down and the runner-up up by the bound each). So
// a step is skipped when its margin is below 2 * tol.logits * max|z_ref|, with max|z_ref| <= max|z| / (1 - tol.logits)
// from our logits: in f32 about 6e-4 (every step of the fixtures compared), in bf16 0.08 to 0.19 (half of them).
TEST_P(GpuModel, GreedyTokensMatchReferenceUnderTeacherForcing) {
  const std::vector<int64_t> prompt64 = fx_->ref.read_i64("greedy_prompt");
  const std::vector<int64_t> ref_tokens = fx_->ref.read_i64("greedy_tokens");
  const std::vector<double> margins = fx_->ref_f64("greedy_top2_margins");
  ASSERT_EQ(margins.size(), ref_tokens.size());
  KvCache cache = model_->new_kv_cache(static_cast<int64_t>(prompt64.size() + ref_tokens.size()));
  std::vector<std::vector<float>> step_logits;  // step i: the logits that choose greedy token i
  step_logits.push_back(
      model_->forward_step(std::vector<int32_t>(prompt64.begin(), prompt64.end()), cache).to_f32_vector());
  for (size_t i = 0; i + 1 < ref_tokens.size(); ++i)
    step_logits.push_back(model_->forward_step({static_cast<int32_t>(ref_tokens[i])}, cache).to_f32_vector());
  double max_abs = 0;
  for (const std::vector<float>& z : step_logits)
    for (float x : z) max_abs = std::max(max_abs, std::fabs(static_cast<double>(x)));
  const double threshold = 2 * tol_.logits * max_abs / (1 - tol_.logits);
  size_t compared = 0;
  for (size_t i = 0; i < ref_tokens.size(); ++i) {
    if (margins[i] < threshold) continue;
    const std::vector<float>& z = step_logits[i];
    const int64_t ours = std::max_element(z.begin(), z.end()) - z.begin();  // the first maximum, as torch.argmax
    EXPECT_EQ(ours, ref_tokens[i]) << "greedy step " << i << " (reference margin " << margins[i] << ")";
    ++compared;
  }
  std::printf("  %-48s %zu of %zu steps compared (margin >= %.3g)\n", tag("greedy, teacher-forced").c_str(), compared,
              ref_tokens.size(), threshold);
  EXPECT_GE(compared, ref_tokens.size() / 3) << "too few steps resolvable: the check would prove little";
}

// The GPU kernels use no atomics, so a step is reproducible bit for bit, and recomputation changes nothing.
TEST_P(GpuModel, GradientsAreDeterministicAndRecomputationChangesNothing) {
  const TokenBatch batch = fx_->packed_batch();
  auto grads_of = [&](Qwen3Model& m) {
    m.zero_grads();
    m.forward_backward(batch, 1.0f / static_cast<float>(batch.num_targets()));
    std::vector<std::vector<float>> g;
    for (const Parameter& p : m.parameters()) g.push_back(p.grad.to_f32_vector());
    return g;
  };
  ModelOptions recompute_options = gpu_options(dtype_);
  recompute_options.recompute_activations = true;
  auto recompute = load_hf_model(fx_->dir, recompute_options);
  const auto first = grads_of(*model_), second = grads_of(*model_), recomputed = grads_of(*recompute);
  for (size_t i = 0; i < first.size(); ++i) {
    const size_t bytes = first[i].size() * sizeof(float);
    EXPECT_EQ(0, std::memcmp(first[i].data(), second[i].data(), bytes)) << model_->parameters()[i].name << " rerun";
    EXPECT_EQ(0, std::memcmp(first[i].data(), recomputed[i].data(), bytes))
        << model_->parameters()[i].name << " recomputed";
  }
}

// Prefill then one-token steps (cu_k longer than cu_q) give the logits of a full forward pass over the sequence.
TEST_P(GpuModel, KvCacheStepsMatchFullForward) {
  const std::vector<int32_t> tokens = fx_->row_tokens(fx_->rows - 1);
  const int64_t prompt = static_cast<int64_t>(tokens.size()) / 2;
  TokenBatch full;
  full.add_document(tokens);
  const Tensor all = model_->forward_logits(full).to(Device::kCPU);
  KvCache cache = model_->new_kv_cache(static_cast<int64_t>(tokens.size()));
  Tensor step = model_->forward_step(std::vector<int32_t>(tokens.begin(), tokens.begin() + prompt), cache);
  expect_close(step, all.rows(prompt - 1, prompt), tolerance(dtype_), tag("prefill logits"));
  for (int64_t t = prompt; t < static_cast<int64_t>(tokens.size()); ++t) {
    step = model_->forward_step({tokens[t]}, cache);
    expect_close(step, all.rows(t, t + 1), tolerance(dtype_), tag("decode step " + std::to_string(t)));
  }
}

// Greedy decoding replays each step as a recorded CUDA graph (model/greedy_decoder.h). The graph runs the very
// kernels of an eager step on the same buffers, so the tokens must be identical, not merely close; and from the
// second step on the steps must actually be replayed (a refused recording would fall back to eager steps silently).
TEST_P(GpuModel, RecordedGreedyStepsEqualStepsRunOneByOne) {
  const std::vector<int32_t> tokens = fx_->row_tokens(0);
  const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + static_cast<int64_t>(tokens.size()) / 2);
  constexpr int64_t kNew = 32;
  auto decode = [&](bool record) {
    KvCache cache = model_->new_kv_cache(static_cast<int64_t>(prompt.size()) + kNew);
    GreedyDecoder decoder(*model_, cache, record);
    std::vector<int32_t> out{decoder.start(prompt)};
    while (static_cast<int64_t>(out.size()) < kNew) out.push_back(decoder.next());
    EXPECT_EQ(decoder.recorded(), record) << tag("graph recorded");
    return out;
  };
  const std::vector<int32_t> eager = decode(false), recorded = decode(true);
  EXPECT_EQ(recorded, eager) << tag("recorded vs one by one");
  EXPECT_EQ(decode(true), recorded) << tag("a second recording");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuModel,
                         ::testing::Combine(::testing::Values("qwen3-tiny-a", "qwen3-tiny-b", "qwen3-tiny-hd128"),
                                            ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_" + dtype_name(std::get<1>(info.param));
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

// Qwen3-0.6B's shapes (hidden 1024, 16 query and 8 KV heads of 128, FFN 3072, vocabulary 151,936, tied head) with
// 4 of its 28 layers (every layer has the same shapes; fewer keep the host-side random init to seconds), random
// weights (std 0.02, norm weights 1), in bf16 as training runs it, on 4 documents of 256 random tokens. The loss has
// a predictable value: the final RMSNorm (weight 1) leaves each row h with |h|^2 = D = 1024, so a logit h . w_v, with
// w_v's entries N(0, 0.02^2) independent of h (the target is drawn apart from the context), is N(0, s^2),
// s = 0.02 * sqrt(1024) = 0.64. Over V = 151,936 such logits log-sum-exp = ln V + s^2 / 2 (to within
// sqrt((e^(s^2) - 1) / V) = 2e-3), and the target's own logit has mean 0 and standard deviation s, so the mean loss
// over N = 1020 targets is ln V + s^2 / 2 = 11.93 + 0.20 = 12.14 with standard deviation s / sqrt(N) = 0.02. The band
// is +-0.15: seven standard deviations, plus bf16's rounding of h and w (2^-9 relative, moving logits by ~1e-3).
TEST(GpuModelAtRealShapes, Qwen3_0_6bRandomInitLossIsLnVocabulary) {
  SKIP_WITHOUT_GPU();
  Qwen3Config config = qwen3_preset("qwen3-0.6b");
  config.num_layers = 4;
  Qwen3Model model(config, gpu_options(DType::kBF16));
  model.init_random(/*seed=*/5);
  Rng rng(17);
  TokenBatch batch;
  for (int doc = 0; doc < 4; ++doc) {
    std::vector<int32_t> tokens(256);
    for (int32_t& t : tokens) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(config.vocab_size)));
    batch.add_document(tokens);
  }
  const double s = 0.02 * std::sqrt(static_cast<double>(config.hidden_size));
  const double expected = std::log(static_cast<double>(config.vocab_size)) + s * s / 2;
  model.zero_grads();
  const LossSum loss = model.forward_backward(batch, 1.0f / static_cast<float>(batch.num_targets()));
  ASSERT_EQ(loss.count, 1020);
  const double norm = global_grad_norm(model.parameters(), model.tp());
  std::printf("  %-48s loss %.4f (expected %.4f +- 0.15), gradient norm %.4g\n", "qwen3-0.6b shapes, 4 layers, bf16",
              loss.mean(), expected, norm);
  EXPECT_NEAR(loss.mean(), expected, 0.15);
  EXPECT_TRUE(std::isfinite(norm) && norm > 0) << norm;
}

}  // namespace
}  // namespace stepwise::testing
