// Activation recomputation (ModelOptions::recompute_activations) on the CPU: the loss and every parameter gradient
// equal those of a run that keeps every layer's activations, bit for bit, for packed documents with masked
// targets, on a preset model and on a fixture loaded from Hugging Face files; and repeated micro-batches
// accumulate the same way.
#include <gtest/gtest.h>

#include <cstring>

#include "core/rng.h"
#include "fixture.h"
#include "model/hf_model.h"

namespace stepwise::testing {
namespace {

TokenBatch random_batch(int64_t vocab, const std::vector<int64_t>& lengths, uint64_t seed) {
  Rng rng(seed);
  TokenBatch b;
  for (int64_t len : lengths) {
    std::vector<int32_t> doc(static_cast<size_t>(len)), labels(static_cast<size_t>(len));
    for (int64_t t = 0; t < len; ++t) {
      doc[t] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
      labels[t] = t < len / 4 ? kIgnoreTarget : doc[t];  // a prompt without loss, as in SFT data
    }
    b.add_document(doc, labels);
  }
  return b;
}

// Runs `steps` micro-batches (accumulating gradients) and returns the losses and every gradient's bytes.
struct Result {
  std::vector<double> losses;
  std::vector<std::vector<float>> grads;
};
Result run(Qwen3Model& model, const std::vector<TokenBatch>& batches) {
  Result r;
  model.zero_grads();
  for (const TokenBatch& b : batches)
    r.losses.push_back(model.forward_backward(b, 1.0f / static_cast<float>(b.num_targets())).sum);
  for (const Parameter& p : model.parameters()) r.grads.push_back(p.grad.to_f32_vector());
  return r;
}

void expect_bitwise_equal(const Result& a, const Result& b, const std::vector<Parameter>& params) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t i = 0; i < a.losses.size(); ++i) EXPECT_EQ(a.losses[i], b.losses[i]) << "micro-batch " << i;
  ASSERT_EQ(a.grads.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(a.grads[i].size(), b.grads[i].size());
    EXPECT_EQ(0, std::memcmp(a.grads[i].data(), b.grads[i].data(), a.grads[i].size() * sizeof(float)))
        << params[i].name << " differs with recomputation";
  }
}

TEST(Recompute, PresetGradientsEqualBitForBit) {
  const Qwen3Config config = qwen3_preset("qwen3-tiny");
  ModelOptions keep, recompute;
  recompute.recompute_activations = true;
  Qwen3Model a(config, keep), b(config, recompute);
  a.init_random(7);
  b.init_random(7);
  // Two micro-batches of different sizes: the second reuses the buffers planned for the first.
  const std::vector<TokenBatch> batches = {random_batch(config.vocab_size, {37, 64, 90}, 1),
                                           random_batch(config.vocab_size, {5, 120}, 2)};
  expect_bitwise_equal(run(a, batches), run(b, batches), a.parameters());
}

TEST(Recompute, FixtureGradientsEqualBitForBit) {
  for (const char* name : {"qwen3-tiny-a", "qwen3-tiny-b"}) {
    SCOPED_TRACE(name);
    const Fixture fx = Fixture::load(name);
    ModelOptions recompute;
    recompute.recompute_activations = true;
    auto a = load_hf_model(fx.dir, ModelOptions{});
    auto b = load_hf_model(fx.dir, recompute);
    const std::vector<TokenBatch> batches = {fx.packed_batch()};
    const Result ra = run(*a, batches), rb = run(*b, batches);
    expect_bitwise_equal(ra, rb, a->parameters());
    // And as precise as before: the fixture's float64 loss.
    const double ref = fx.ref_f64("loss")[0], ours = rb.losses[0] / static_cast<double>(batches[0].num_targets());
    EXPECT_LE(std::fabs(ours - ref) / ref, 1e-6);
  }
}

}  // namespace
}  // namespace stepwise::testing
