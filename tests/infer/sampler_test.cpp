// Sampling: greedy, the distributions temperature / top-k / top-p / min-p sampling draw from, the penalties'
// exact effect on logits, log-probabilities against a direct log-softmax, forced tokens, seeded determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <tuple>

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

// Normal logits with standard deviation `scale`: a flat-ish distribution whose nucleus spans many tokens.
std::vector<float> random_logits(int64_t n, float scale, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> logits(static_cast<size_t>(n));
  for (float& l : logits) l = scale * rng.normal();
  return logits;
}

TEST(Sampler, GreedyTakesTheFirstMaximum) {
  Rng rng(0);
  EXPECT_EQ(sample_token({0.1f, 3.0f, -1.0f, 3.0f}, SamplingParams{}, rng), 1);
}

// argmax_rows (kernels' argmax_rows, what a greedy step runs on the device) makes the host's choice row by row: the
// first maximum, and never a column past `vocab` (a padded head's tail). Rows are random with planted ties.
TEST(Sampler, ArgmaxRowsChoosesAsArgmaxOverTheFirstVocabColumns) {
  constexpr int64_t kRows = 40, kWidth = 1000, kVocab = 937;
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<float> u(-5.0f, 5.0f);
  std::vector<float> logits(static_cast<size_t>(kRows * kWidth));
  for (float& x : logits) x = u(gen);
  for (int64_t r = 0; r < kRows; ++r) {
    float* row = logits.data() + r * kWidth;
    const int64_t a = static_cast<int64_t>(gen() % kVocab), b = static_cast<int64_t>(gen() % kVocab);
    row[a] = row[b] = 9.0f;      // a tie (a == b in some rows): the lower column wins
    row[kVocab + r % 63] = 50.0f;  // larger, but in the padding
    if (r == 0) std::fill(row, row + kVocab, 1.0f);  // all equal: column 0
  }
  const std::vector<int32_t> got = argmax_rows(Tensor::from_vector(logits, {kRows, kWidth}), kVocab);
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows));
  for (int64_t r = 0; r < kRows; ++r) {
    const float* row = logits.data() + r * kWidth;
    EXPECT_EQ(got[r], argmax(row, kVocab)) << "row " << r;
    EXPECT_EQ(row[got[r]], r == 0 ? 1.0f : 9.0f) << "row " << r;
    EXPECT_EQ(std::find(row, row + kVocab, row[got[r]]) - row, got[r]) << "the first maximum, row " << r;
  }
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

// Frequency tolerances here are 0.01 over 100000 draws: a binomial frequency's standard deviation is at most
// sqrt(0.25 / 1e5) = 0.0016, so 0.01 is over 6 standard deviations.
TEST(Sampler, MinPCutsRelativeToTheMostLikelyTokenAfterTemperature) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.min_p = 0.5f;  // p >= 0.25: tokens 0 and 1
  auto f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.01);
  p.min_p = 0.25f;  // p >= 0.125: tokens 0, 1, 2
  f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.01);
  // At temperature 2 the weights are sqrt(p): relative to the top 1, 0.775, 0.548, 0.316, so min_p 0.5 keeps three.
  p.temperature = 2.0f;
  p.min_p = 0.5f;
  f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 3u);
  const double w0 = std::sqrt(0.5), w1 = std::sqrt(0.3), w2 = std::sqrt(0.15);
  EXPECT_NEAR(f[1], w1 / (w0 + w1 + w2), 0.01);
  // After top-k (the ordered path): top_k 3 then min_p 0.5 at temperature 1 leaves tokens 0 and 1.
  p.temperature = 1.0f;
  p.top_k = 3;
  p.min_p = 0.5f;
  f = frequencies(logits, p, 100000);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[1], 0.3 / 0.8, 0.01);
}

// The token each draw must give, computed the plain way: the whole vocabulary sorted, then the cuts. Sums taken in
// another order than the sampler's may differ in the last bits; a draw within ~1e-15 of a boundary would then
// differ, which the fixed seeds below do not hit.
int32_t reference_draw(const std::vector<float>& logits, const SamplingParams& p, double u) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  if (p.top_k > 0) order.resize(std::min<size_t>(order.size(), static_cast<size_t>(p.top_k)));
  std::vector<double> w;
  for (int32_t t : order) w.push_back(std::exp((logits[t] - logits[order[0]]) / p.temperature));
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  size_t keep = w.size();
  if (p.top_p < 1.0f) {
    keep = 0;
    for (double cum = 0; cum < p.top_p && keep < w.size();) cum += w[keep++] / sum;
  }
  while (keep > 1 && w[keep - 1] < p.min_p) --keep;
  double x = u * std::accumulate(w.begin(), w.begin() + keep, 0.0);
  for (size_t i = 0; i < keep; ++i)
    if ((x -= w[i]) < 0) return order[i];
  return order[keep - 1];
}

TEST(Sampler, OrderedCutsMatchAFullSortOnALargeVocabulary) {
  const std::vector<float> logits = random_logits(5000, 0.5f, 42);
  for (const auto& [top_k, top_p, min_p] :
       std::vector<std::tuple<int64_t, float, float>>{{0, 0.9f, 0.0f}, {0, 0.3f, 0.0f}, {0, 0.95f, 0.4f},
                                                      {400, 1.0f, 0.0f}, {700, 0.8f, 0.0f}, {50, 0.9f, 0.5f}}) {
    SamplingParams p;
    p.temperature = 0.7f;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Rng rng(seed), copy(seed);
      EXPECT_EQ(sample_token(logits, p, rng), reference_draw(logits, p, copy.uniform_double()))
          << "top_k " << top_k << " top_p " << top_p << " min_p " << min_p << " seed " << seed;
    }
  }
}

TEST(Sampler, PenaltiesChangeExactlyTheLogitsOfSeenTokens) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
  const std::vector<int32_t> prompt = {0, 1, 0}, output = {1, 2, 2, 2};
  SamplingParams p;
  p.repetition_penalty = 2.0f;  // once per distinct token: positive logits halve, negative ones double
  std::vector<float> l = logits;
  apply_penalties(l, p, prompt, output);
  EXPECT_EQ(l, (std::vector<float>{1.0f, -2.0f, 0.25f, 3.0f, -2.0f}));

  p = SamplingParams{};
  p.presence_penalty = 0.25f;  // once per token in the output; the prompt does not count
  l = logits;
  apply_penalties(l, p, prompt, output);
  EXPECT_EQ(l, (std::vector<float>{2.0f, -1.25f, 0.25f, 3.0f, -2.0f}));

  p = SamplingParams{};
  p.frequency_penalty = -0.5f;  // per occurrence in the output; negative values encourage repetition
  l = logits;
  apply_penalties(l, p, prompt, output);
  EXPECT_EQ(l, (std::vector<float>{2.0f, -0.5f, 2.0f, 3.0f, -2.0f}));

  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.25f;
  p.frequency_penalty = 0.5f;
  l = logits;
  apply_penalties(l, p, prompt, output);
  EXPECT_EQ(l, (std::vector<float>{1.0f, -2.0f - 0.5f - 0.25f, 0.25f - 1.5f - 0.25f, 3.0f, -2.0f}));

  l = logits;
  EXPECT_THROW(apply_penalties(l, p, {}, {5}), StatusError);
  try {
    apply_penalties(l, p, {-1}, {});
    ADD_FAILURE() << "a negative prompt id was accepted";
  } catch (const StatusError& e) {
    EXPECT_NE(std::string(e.what()).find("prompt token id -1"), std::string::npos) << e.what();
  }
}

TEST(Sampler, GreedyChoosesAfterThePenalties) {
  const std::vector<float> logits = {5.0f, 4.9f, 1.0f};
  SamplingParams p;
  Rng rng(0);
  EXPECT_EQ(choose_next_token(logits, p, {}, {0}, rng).token, 0);
  p.presence_penalty = 0.5f;
  EXPECT_EQ(choose_next_token(logits, p, {}, {0}, rng).token, 1);
  p = SamplingParams{};
  p.repetition_penalty = 1.1f;  // 5 / 1.1 = 4.55 < 4.9
  EXPECT_EQ(choose_next_token(logits, p, {0}, {}, rng).token, 1);
  EXPECT_EQ(rng.state(), Rng(0).state()) << "greedy choice drew random numbers";
}

// Log-probabilities are float roundings of values below ~25 in magnitude here (half an ulp at 16-32 is 9.5e-7);
// the test's own double computation differs from the sampler's by ~1e-14, so 2e-6 bounds both.
TEST(Sampler, LogprobsAreTheRawLogSoftmax) {
  const std::vector<float> logits = random_logits(3000, 3.0f, 7);
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  std::vector<int32_t> by_logit(logits.size());
  std::iota(by_logit.begin(), by_logit.end(), 0);
  std::stable_sort(by_logit.begin(), by_logit.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });

  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.logprobs = 5;
  p.repetition_penalty = 1.5f;  // penalties and temperature change the choice, not the reported log-probabilities
  p.frequency_penalty = 1.0f;
  const std::vector<int32_t> output = {by_logit[0], by_logit[0], by_logit[1]};
  Rng rng(3);
  for (int step = 0; step < 10; ++step) {
    const SampledToken s = choose_next_token(logits, p, {by_logit[2]}, output, rng);
    EXPECT_NEAR(s.logprob, std::log(std::exp(static_cast<double>(logits[s.token])) / z), 2e-6);
    ASSERT_EQ(s.top.size(), 5u);
    for (size_t i = 0; i < s.top.size(); ++i) {
      EXPECT_EQ(s.top[i].token, by_logit[i]) << i;
      EXPECT_NEAR(s.top[i].logprob, std::log(std::exp(static_cast<double>(logits[by_logit[i]])) / z), 2e-6) << i;
    }
  }
  p.logprobs = 0;
  EXPECT_TRUE(choose_next_token(logits, p, {}, {}, rng).top.empty());
}

TEST(Sampler, TopLogprobsBreakTiesByLowerId) {
  SamplingParams p;
  p.logprobs = 3;
  Rng rng(0);
  const SampledToken s = choose_next_token({1.0f, 3.0f, 3.0f, 2.0f, 3.0f}, p, {}, {}, rng);
  ASSERT_EQ(s.top.size(), 3u);
  EXPECT_EQ(s.top[0].token, 1);
  EXPECT_EQ(s.top[1].token, 2);
  EXPECT_EQ(s.top[2].token, 4);
  p.logprobs = kMaxLogprobs;  // more than the vocabulary: all of it
  EXPECT_EQ(choose_next_token({1.0f, 3.0f, 3.0f, 2.0f, 3.0f}, p, {}, {}, rng).top.size(), 5u);
}

TEST(Sampler, ForcedTokenIsTakenWithoutADraw) {
  const std::vector<float> logits = {0.0f, 5.0f, std::log(0.25f)};
  SamplingParams p;
  p.temperature = 1.0f;
  Rng rng(9);
  p.logprobs = 1;
  const SampledToken s = choose_next_token(logits, p, {}, {}, rng, 2);
  EXPECT_EQ(s.token, 2);
  EXPECT_NEAR(s.logprob, std::log(0.25 / (1.0 + std::exp(5.0) + 0.25)), 2e-6);  // float rounding, as above
  EXPECT_EQ(rng.state(), Rng(9).state());
  EXPECT_THROW(choose_next_token(logits, p, {}, {}, rng, 3), StatusError);
}

TEST(Sampler, OneDrawPerChoiceAndTheSameTokensForTheSameSeed) {
  const std::vector<float> logits = random_logits(1000, 2.0f, 1);
  SamplingParams p;
  p.temperature = 1.0f;
  p.presence_penalty = 0.5f;
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 30; ++i) {
      Rng one_draw = rng;
      one_draw.uniform_double();
      out.push_back(choose_next_token(logits, p, {1, 2}, out, rng).token);
      EXPECT_EQ(rng.state(), one_draw.state()) << "not exactly one draw at step " << i;
    }
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

// With no penalties in force, choose_next_token is sample_token: the same token from the same Rng state, whatever
// the history, on every path (greedy, unordered, top-k, top-p, min-p).
TEST(Sampler, ChooseNextTokenWithoutPenaltiesIsSampleToken) {
  const std::vector<float> logits = random_logits(2000, 1.5f, 11);
  for (const auto& [temperature, top_k, top_p, min_p] : std::vector<std::tuple<float, int64_t, float, float>>{
           {0.0f, 0, 1.0f, 0.0f}, {1.0f, 0, 1.0f, 0.0f}, {0.6f, 40, 1.0f, 0.0f}, {1.2f, 0, 0.9f, 0.0f},
           {1.0f, 100, 0.95f, 0.0f}, {1.0f, 0, 1.0f, 0.1f}}) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    Rng a(17), b(17);
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(choose_next_token(logits, p, {1, 2, 3}, {4, 4}, a).token, sample_token(logits, p, b)) << i;
      ASSERT_EQ(a.state(), b.state());
    }
  }
}

TEST(Sampler, InvalidParametersNameTheirField) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto expect_rejected = [](const SamplingParams& p, const std::string& field) {
    try {
      p.validate();
      ADD_FAILURE() << field << ": accepted";
    } catch (const StatusError& e) {
      EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()).rfind(field + " must", 0), 0u) << field << ": " << e.what();
    }
  };
  auto with = [](auto member, auto value) {
    SamplingParams p;
    p.*member = value;
    return p;
  };
  using P = SamplingParams;
  for (float v : {-0.5f, nan, inf}) expect_rejected(with(&P::temperature, v), "temperature");
  expect_rejected(with(&P::top_k, int64_t{-1}), "top_k");
  for (float v : {0.0f, 1.5f, nan}) expect_rejected(with(&P::top_p, v), "top_p");
  for (float v : {-0.1f, 1.01f, nan}) expect_rejected(with(&P::min_p, v), "min_p");
  for (float v : {0.0f, -1.0f, nan, inf}) expect_rejected(with(&P::repetition_penalty, v), "repetition_penalty");
  for (float v : {-2.5f, 2.01f, nan}) expect_rejected(with(&P::presence_penalty, v), "presence_penalty");
  for (float v : {-2.01f, 3.0f, nan}) expect_rejected(with(&P::frequency_penalty, v), "frequency_penalty");
  for (int64_t v : {int64_t{-1}, kMaxLogprobs + 1}) expect_rejected(with(&P::logprobs, v), "logprobs");

  // The ends of every range are accepted.
  SamplingParams p;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 1e-3f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.logprobs = kMaxLogprobs;
  EXPECT_NO_THROW(p.validate());
}

}  // namespace
}  // namespace stepwise
