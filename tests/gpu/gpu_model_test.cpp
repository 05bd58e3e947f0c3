// The whole Qwen3 model on the GPU against the Hugging Face fixtures (tests/data/fixtures, float64 references):
// logits, loss and every gradient, three AdamW steps, and greedy decoding, in f32 (the precise mode) and in the
// mixed-precision mode training uses (bf16 weights and activations, f32 gradients and master weights). Then what
// the GPU path promises beyond matching numbers: gradients are the same bit for bit run to run and with activation
// recomputation, and KV-cache decoding agrees with a full forward pass.
// The fixtures are read from $STEPWISE_FIXTURES_DIR when set (run_gpu_checks.sh points it at the packed copy).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "fixture.h"
#include "gpu_test_util.h"
#include "infer/generate.h"
#include "model/hf_model.h"
#include "train/adamw.h"

namespace stepwise::testing {
namespace {

// Tolerances against the float64 reference. f32 on the GPU accumulates matmuls in f32 (the CPU reference in f64),
// hence looser than the CPU test's; bf16 rounds every activation to 8 bits of mantissa.
struct Tolerances {
  double logits, loss, grads, adamw_params, greedy_margin;
};
Tolerances tolerances(DType dtype) {
  if (dtype == DType::kF32) return {1e-4, 1e-5, 1e-4, 1e-3, 1e-3};
  return {3e-2, 1e-2, 5e-2, 5e-2, 5e-2};
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

// Greedy tokens equal the CPU model's until the reference's top-2 margin falls below what this precision resolves.
TEST_P(GpuModel, GreedyDecodingMatchesCpuWhileMarginsAllow) {
  const std::vector<int64_t> prompt64 = fx_->ref.read_i64("greedy_prompt");
  const std::vector<double> margins = fx_->ref_f64("greedy_top2_margins");
  GenerateRequest req;
  req.prompt.assign(prompt64.begin(), prompt64.end());
  req.max_new_tokens = static_cast<int64_t>(margins.size());
  const std::vector<int32_t> ours = generate(*model_, req);
  const std::vector<int32_t> cpu = generate(*load_hf_model(fx_->dir, ModelOptions{}), req);
  ASSERT_EQ(ours.size(), cpu.size());
  size_t compared = 0;
  for (; compared < cpu.size() && margins[compared] >= tol_.greedy_margin; ++compared)
    ASSERT_EQ(ours[compared], cpu[compared]) << "greedy step " << compared << " (margin " << margins[compared] << ")";
  std::printf("  %-48s %zu of %zu steps compared, all equal\n", tag("greedy").c_str(), compared, cpu.size());
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

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuModel,
                         ::testing::Combine(::testing::Values("qwen3-tiny-a", "qwen3-tiny-b", "qwen3-tiny-hd128"),
                                            ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_" + dtype_name(std::get<1>(info.param));
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace stepwise::testing
