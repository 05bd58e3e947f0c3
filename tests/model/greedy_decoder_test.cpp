// GreedyDecoder (model/greedy_decoder.h) on the CPU, where a "recorded" step simply runs its ops again: it must
// choose exactly the tokens of an independent loop over forward_step (dense attention over the contiguous cache,
// positions and lengths from the host, the host sampler's argmax), although its steps attend through the one-block
// paged view, take their token, position and length from device buffers it advances itself, and choose on the
// "device". Exact equality: the CPU reference accumulates matmuls and attention in f64 and rounds once
// (kernels/ops.h), so both paths give the same f32 logits up to f64 effects (~1e-16 relative) and a choice could
// only flip on a tie to f32 precision, which random fixture prompts do not produce. Also the cache bound, and that the
// CPU never reports a recorded graph. The recorded CUDA graph is checked against eager steps in tests/gpu.
#include "model/greedy_decoder.h"

#include <gtest/gtest.h>

#include "core/status.h"
#include "fixture.h"
#include "infer/sampler.h"
#include "model/hf_model.h"

namespace stepwise::testing {
namespace {

std::vector<int32_t> forward_step_greedy(Qwen3Model& model, const std::vector<int32_t>& prompt, int64_t new_tokens) {
  KvCache cache = model.new_kv_cache(static_cast<int64_t>(prompt.size()) + new_tokens);
  const int64_t vocab = model.config().vocab_size;
  std::vector<int32_t> out;
  std::vector<float> logits = model.forward_step(prompt, cache).to_f32_vector();
  while (true) {
    out.push_back(argmax(logits.data(), vocab));
    if (static_cast<int64_t>(out.size()) == new_tokens) return out;
    logits = model.forward_step({out.back()}, cache).to_f32_vector();
  }
}

class GreedyDecoderFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(GreedyDecoderFixture, ChoosesTheTokensOfForwardStepDecoding) {
  const Fixture fx = Fixture::load(GetParam());
  auto model = load_hf_model(fx.dir, {});
  constexpr int64_t kNew = 24;
  for (int64_t r = 0; r < fx.rows; ++r) {
    const std::vector<int32_t> row = fx.row_tokens(r);
    const std::vector<int32_t> prompt(row.begin(), row.begin() + 1 + r * 3 % static_cast<int64_t>(row.size()));
    const std::vector<int32_t> expected = forward_step_greedy(*model, prompt, kNew);
    KvCache cache = model->new_kv_cache(static_cast<int64_t>(prompt.size()) + kNew);
    GreedyDecoder decoder(*model, cache);
    std::vector<int32_t> got{decoder.start(prompt)};
    while (static_cast<int64_t>(got.size()) < kNew) got.push_back(decoder.next());
    EXPECT_EQ(got, expected) << "row " << r << ", prompt of " << prompt.size();
    EXPECT_EQ(cache.length, static_cast<int64_t>(prompt.size()) + kNew - 1) << "the last token is not fed yet";
    EXPECT_FALSE(decoder.recorded()) << "no graphs on the CPU";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GreedyDecoderFixture,
                         ::testing::Values("qwen3-tiny-a", "qwen3-tiny-b", "qwen3-tiny-hd128"));

TEST(GreedyDecoder, RefusesAStepPastTheCacheNamingItsSize) {
  const Fixture fx = Fixture::load("qwen3-tiny-a");
  auto model = load_hf_model(fx.dir, {});
  const std::vector<int32_t> prompt{5, 6, 7};
  KvCache cache = model->new_kv_cache(5);
  GreedyDecoder decoder(*model, cache);
  decoder.start(prompt);
  decoder.next();
  decoder.next();
  try {
    decoder.next();
    FAIL() << "a sixth token fit a cache of 5";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("its KV cache holds 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.length, 5);
}

TEST(GreedyDecoder, NeedsAnEmptyCache) {
  const Fixture fx = Fixture::load("qwen3-tiny-a");
  auto model = load_hf_model(fx.dir, {});
  KvCache cache = model->new_kv_cache(8);
  model->forward_step({1, 2}, cache);
  EXPECT_THROW(GreedyDecoder(*model, cache), StatusError);
}

}  // namespace
}  // namespace stepwise::testing
