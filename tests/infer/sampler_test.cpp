// Sampling: greedy, and the distributions temperature / top-k / top-p sampling draw from.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/status.h"
#include "infer/sampler.h"

namespace stepwise {
namespace {

std::map<int32_t, double> frequencies(const std::vector<float>& logits, const SamplingParams& p, int n) {
  Rng rng(p.seed);
  std::map<int32_t, double> f;
  for (int i = 0; i < n; ++i) f[sample_token(logits, p, rng)] += 1.0 / n;
  return f;
}

TEST(Sampler, GreedyTakesTheFirstMaximum) {
  Rng rng(0);
  EXPECT_EQ(sample_token({0.1f, 3.0f, -1.0f, 3.0f}, SamplingParams{}, rng), 1);
}

TEST(Sampler, TemperatureSamplesTheSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  SamplingParams p;
  p.temperature = 2.0f;
  const auto f = frequencies(logits, p, 200000);
  double z = 0;
  for (float l : logits) z += std::exp(l / 2.0);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(f.count(i) ? f.at(i) : 0.0, std::exp(logits[i] / 2.0) / z, 0.005) << i;
}

TEST(Sampler, TopKAndTopPCutTheTail) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;
  auto f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.01);
  p.top_k = 0;
  p.top_p = 0.75f;  // 0.5 falls short, 0.5 + 0.3 reaches it: tokens 0 and 1 only
  f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[1], 0.3 / 0.8, 0.01);
  p.top_p = 0.85f;  // needs the third token as well
  EXPECT_EQ(frequencies(logits, p, 100000).size(), 3u);
}

TEST(Sampler, InvalidParametersAreRejected) {
  SamplingParams p;
  p.top_p = 1.5f;
  EXPECT_THROW(p.validate(), StatusError);
  p = SamplingParams{};
  p.temperature = -0.5f;
  EXPECT_THROW(p.validate(), StatusError);
  p = SamplingParams{};
  p.top_k = -1;
  EXPECT_THROW(p.validate(), StatusError);
}

}  // namespace
}  // namespace stepwise
