// ServingEngine against independent paths: every batched greedy output equals the single-sequence generate()
// (one sequence's contiguous KvCache, batch 1; its greedy steps are checked against dense-attention forward_step
// decoding in tests/model/greedy_decoder_test.cpp) token for token, whatever the batch composition, arrival order, block size,
// prefill chunk size or pool size (preemption); sampled tokens depend on the seed only; logprobs equal a log-softmax
// of the full-sequence logits (forward_logits, what `stepwise score` prints); cancellation frees every block; the
// thinking budget and the reasoning split with the real Qwen3 tokenizer.
//
// Why exact equality holds: the CPU reference accumulates matmuls and attention in f64 and rounds once (kernels/ops.h),
// so a logit does not depend on the batch it was computed in except for f64 differences of ~1e-16 relative that
// change the f32 result only within 1e-16 of a rounding boundary; a greedy choice flips only if two logits tie to
// f32 precision. The fixtures' prompts are random, so neither happens (a flip would show as a failure to look at,
// not be absorbed by a tolerance).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "common/random_model.h"
#include "core/status.h"
#include "infer/engine.h"
#include "infer/generate.h"
#include "model/hf_model.h"

namespace stepwise {
namespace {

std::string fixture(const std::string& name) { return std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/" + name; }

struct Output {
  std::vector<int32_t> tokens;
  std::string text, reasoning;
  std::vector<SampledToken> logprobs;
  FinishReason finish = FinishReason::kNone;
  int64_t chunks = 0, completion_tokens = -1;
};

// Every chunk of every request, by (request id, sample index).
struct Collector {
  std::map<std::pair<uint64_t, int64_t>, Output> out;
  ChunkSink sink() {
    return [this](const GenerationChunk& c) {
      Output& o = out[{c.request_id, c.index}];
      EXPECT_EQ(o.finish, FinishReason::kNone) << "a chunk after the last one";
      o.tokens.insert(o.tokens.end(), c.token_ids.begin(), c.token_ids.end());
      o.text += c.text;
      o.reasoning += c.reasoning_text;
      o.logprobs.insert(o.logprobs.end(), c.logprobs.begin(), c.logprobs.end());
      o.finish = c.finish;
      ++o.chunks;
      if (c.finish != FinishReason::kNone) o.completion_tokens = c.completion_tokens;
    };
  }
  const Output& at(uint64_t id, int64_t index = 0) const { return out.at({id, index}); }
};

struct RandomRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens;
};

std::vector<RandomRequest> random_requests(int count, int64_t vocab, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<RandomRequest> rs;
  for (int i = 0; i < count; ++i) {
    RandomRequest r;
    const int64_t len = 1 + static_cast<int64_t>(gen() % 60);
    for (int64_t t = 0; t < len; ++t) r.prompt.push_back(static_cast<int32_t>(gen() % vocab));
    r.max_tokens = 1 + static_cast<int64_t>(gen() % 40);
    rs.push_back(r);
  }
  return rs;
}

std::vector<int32_t> single_sequence(Qwen3Model& model, const std::vector<int32_t>& prompt, int64_t max_tokens,
                                     const SamplingParams& sampling = {}) {
  GenerateRequest g;
  g.prompt = prompt;
  g.max_new_tokens = max_tokens;
  g.sampling = sampling;
  return generate(model, g);
}

GenerationRequest greedy(const std::vector<int32_t>& prompt, int64_t max_tokens) {
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  return r;
}

struct BatchCase {
  const char* model;
  int64_t block_size, prefill_chunk, step_budget, pool_blocks;
  int arrivals;  // requests are submitted in this many waves, a few steps apart
};

void PrintTo(const BatchCase& c, std::ostream* os) { *os << c.model << " block " << c.block_size; }

class BatchedGreedy : public ::testing::TestWithParam<BatchCase> {};

TEST_P(BatchedGreedy, EqualsSingleSequenceGenerate) {
  const BatchCase p = GetParam();
  auto model = load_hf_model(fixture(p.model), {});
  const auto requests = random_requests(32, model->config().vocab_size, 1234 + p.block_size);
  std::vector<std::vector<int32_t>> expected;
  for (const auto& r : requests) expected.push_back(single_sequence(*model, r.prompt, r.max_tokens));

  EngineOptions eo;
  eo.block_size = p.block_size;
  eo.max_prefill_chunk = p.prefill_chunk;
  eo.max_tokens_per_step = p.step_budget;
  eo.kv_cache_blocks = p.pool_blocks;
  ServingEngine engine(*model, nullptr, eo);
  Collector got;
  std::vector<uint64_t> ids;
  const size_t wave = (requests.size() + p.arrivals - 1) / p.arrivals;
  for (size_t i = 0; i < requests.size(); ++i) {
    ids.push_back(engine.submit(greedy(requests[i].prompt, requests[i].max_tokens), got.sink()));
    if ((i + 1) % wave == 0)
      for (int s = 0; s < 3; ++s) engine.step();
  }
  engine.run_until_idle();
  for (size_t i = 0; i < requests.size(); ++i) {
    const Output& o = got.at(ids[i]);
    EXPECT_EQ(o.tokens, expected[i]) << "request " << i << " (prompt of " << requests[i].prompt.size() << ")";
    EXPECT_EQ(o.finish, FinishReason::kLength);
    EXPECT_EQ(o.completion_tokens, requests[i].max_tokens);
  }
  const EngineStats st = engine.stats();
  EXPECT_EQ(st.free_blocks, st.num_blocks) << "every block back in the pool";
  if (p.pool_blocks > 0 && p.pool_blocks < 40) {
    EXPECT_GT(st.preemptions, 0) << "the tiny pool should preempt";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Engine, BatchedGreedy,
    ::testing::Values(BatchCase{"qwen3-tiny-a", 16, 0, 2048, 0, 1}, BatchCase{"qwen3-tiny-a", 16, 0, 2048, 0, 4},
                      BatchCase{"qwen3-tiny-a", 3, 7, 64, 0, 8}, BatchCase{"qwen3-tiny-b", 16, 5, 100, 0, 3},
                      BatchCase{"qwen3-tiny-b", 1, 0, 2048, 0, 2},
                      // A pool that holds the longest request (100 tokens: 7 blocks of 16) and little more.
                      BatchCase{"qwen3-tiny-a", 16, 0, 2048, 9, 1}, BatchCase{"qwen3-tiny-b", 8, 9, 50, 14, 4}),
    [](const ::testing::TestParamInfo<BatchCase>& i) {
      return std::string(i.param.model).substr(11) + "_bs" + std::to_string(i.param.block_size) + "_chunk" +
             std::to_string(i.param.prefill_chunk) + "_budget" + std::to_string(i.param.step_budget) + "_pool" +
             std::to_string(i.param.pool_blocks) + "_waves" + std::to_string(i.param.arrivals);
    });

TEST(Engine, SampledTokensDependOnTheSeedOnly) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.top_k = 50;
  sp.seed = 7;
  const std::vector<int32_t> prompt{3, 14, 15, 92, 65, 35};
  // generate() draws from the same sampler with Rng(seed): the engine's sample 0 must agree with it.
  const std::vector<int32_t> alone = single_sequence(*model, prompt, 20, sp);
  ServingEngine engine(*model, nullptr, {});
  Collector got;
  for (const auto& r : random_requests(10, model->config().vocab_size, 99)) {
    GenerationRequest other = greedy(r.prompt, r.max_tokens);
    other.sampling.temperature = 1.0f;
    other.sampling.seed = 7;
    engine.submit(other, got.sink());
  }
  GenerationRequest mine = greedy(prompt, 20);
  mine.sampling = sp;
  mine.n = 3;
  const uint64_t id = engine.submit(mine, got.sink());
  engine.run_until_idle();
  EXPECT_EQ(got.at(id, 0).tokens, alone);
  for (int64_t i = 1; i < 3; ++i) {  // sample i draws from seed + i
    SamplingParams si = sp;
    si.seed = sp.seed + static_cast<uint64_t>(i);
    EXPECT_EQ(got.at(id, i).tokens, single_sequence(*model, prompt, 20, si)) << "sample " << i;
  }
  EXPECT_NE(got.at(id, 1).tokens, got.at(id, 2).tokens);
}

TEST(Engine, SamplesOfOneRequestShareThePromptBlocks) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back((i * 37) % 1000);
  const std::vector<int32_t> expected = single_sequence(*model, prompt, 8);
  EngineOptions eo;
  eo.block_size = 16;
  ServingEngine engine(*model, nullptr, eo);
  Collector got;
  GenerationRequest r = greedy(prompt, 8);
  r.n = 4;
  const uint64_t id = engine.submit(r, got.sink());
  engine.step();  // the prompt (3 blocks), then 4 first tokens
  engine.step();  // each sample writes position 40: the third block is copied for three of them
  // Shared: the two full prompt blocks once, the partial one per sample.
  EXPECT_EQ(engine.stats().num_blocks - engine.stats().free_blocks, 2 + 4);
  engine.run_until_idle();
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(got.at(id, i).tokens, expected) << "sample " << i;
  EXPECT_EQ(engine.stats().free_blocks, engine.stats().num_blocks);
}

TEST(Engine, CancelMidStreamFreesEveryBlock) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  ServingEngine engine(*model, nullptr, {});
  Collector got;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r = greedy({1, 2, 3, static_cast<int32_t>(i)}, 200);
    r.n = 2;
    ids.push_back(engine.submit(r, got.sink()));
  }
  for (int s = 0; s < 5; ++s) engine.step();
  const int64_t used_before = engine.stats().num_blocks - engine.stats().free_blocks;
  engine.cancel(ids[1]);
  engine.cancel(ids[3]);
  engine.cancel(987654);  // unknown: ignored
  engine.step();
  EXPECT_LT(engine.stats().num_blocks - engine.stats().free_blocks, used_before);
  for (uint64_t id : {ids[1], ids[3]})
    for (int64_t i = 0; i < 2; ++i) {
      EXPECT_EQ(got.at(id, i).finish, FinishReason::kCancelled);
      EXPECT_GE(got.at(id, i).tokens.size(), 4u) << "streamed before the cancel";
    }
  engine.cancel(ids[0]);
  engine.cancel(ids[2]);
  engine.run_until_idle();
  EXPECT_EQ(engine.stats().free_blocks, engine.stats().num_blocks);
  EXPECT_EQ(engine.stats().requests, 0);
  // Cancelled before its prompt ran: every sample still gets its last chunk.
  GenerationRequest r = greedy({5, 6}, 4);
  r.n = 3;
  const uint64_t early = engine.submit(r, got.sink());
  engine.cancel(early);
  engine.run_until_idle();
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(got.at(early, i).finish, FinishReason::kCancelled);
}

TEST(Engine, LogprobsAreTheFullSequenceLogSoftmax) {
  auto model = load_hf_model(fixture("qwen3-tiny-b"), {});
  const std::vector<int32_t> prompt{7, 100, 42, 9, 300, 11};
  ServingEngine engine(*model, nullptr, {});
  Collector got;
  GenerationRequest r = greedy(prompt, 10);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 3;
  r.sampling.logprobs = 5;
  r.sampling.repetition_penalty = 1.3f;  // penalties change the draw, never the reported logprobs
  const uint64_t id = engine.submit(r, got.sink());
  engine.run_until_idle();
  const Output& o = got.at(id);
  ASSERT_EQ(o.logprobs.size(), o.tokens.size());

  TokenBatch b;
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), o.tokens.begin(), o.tokens.end() - 1);
  b.add_document(all);
  const std::vector<float> logits = model->forward_logits(b).to_f32_vector();
  const int64_t v = model->config().vocab_size;
  for (size_t t = 0; t < o.tokens.size(); ++t) {
    const float* row = logits.data() + (prompt.size() - 1 + t) * v;
    double mx = row[0], z = 0;
    for (int64_t j = 0; j < v; ++j) mx = std::max<double>(mx, row[j]);
    for (int64_t j = 0; j < v; ++j) z += std::exp(row[j] - mx);
    // Both logits are the same f32 values up to the last bit (f64 accumulation, see the header): 1e-5 covers a
    // rounding of each of the ~6 ops of a log-softmax in f32 at |logprob| < 10.
    EXPECT_NEAR(o.logprobs[t].logprob, row[o.tokens[t]] - mx - std::log(z), 1e-5) << "token " << t;
    ASSERT_EQ(o.logprobs[t].top.size(), 5u);
    EXPECT_NEAR(o.logprobs[t].top[0].logprob, -std::log(z), 1e-5);
    for (size_t k = 1; k < 5; ++k) EXPECT_LE(o.logprobs[t].top[k].logprob, o.logprobs[t].top[k - 1].logprob);
  }
}

// A plain greedy request's token is chosen on the device (argmax_rows, one id per row copied back); asking for a
// log-probability sends the whole row to the host sampler instead. The two paths run side by side in one batch over
// the same prompts and must choose the same tokens, and the host path's top token must be its choice.
TEST(Engine, DeviceAndHostGreedyChoicesAgreeInOneBatch) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  const auto requests = random_requests(12, model->config().vocab_size, 99);
  ServingEngine engine(*model, nullptr, {});
  Collector got;
  std::vector<std::pair<uint64_t, uint64_t>> ids;
  for (const auto& r : requests) {
    GenerationRequest host = greedy(r.prompt, r.max_tokens);
    host.sampling.logprobs = 1;
    ids.emplace_back(engine.submit(greedy(r.prompt, r.max_tokens), got.sink()), engine.submit(host, got.sink()));
  }
  engine.run_until_idle();
  for (size_t i = 0; i < requests.size(); ++i) {
    const Output &device = got.at(ids[i].first), &host = got.at(ids[i].second);
    EXPECT_EQ(device.tokens, host.tokens) << "request " << i;
    EXPECT_TRUE(device.logprobs.empty());
    ASSERT_EQ(host.logprobs.size(), host.tokens.size());
    for (size_t t = 0; t < host.tokens.size(); ++t) EXPECT_EQ(host.logprobs[t].top.at(0).token, host.tokens[t]);
  }
}

TEST(Engine, StopTokensAndMaxTokensEndASample) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  const std::vector<int32_t> prompt{3, 14, 15, 92, 65, 35};
  const std::vector<int32_t> ref = single_sequence(*model, prompt, 12);
  ServingEngine engine(*model, nullptr, {});
  Collector got;
  GenerationRequest r = greedy(prompt, 12);
  r.stop_token_ids = {ref[4]};
  const uint64_t stopped = engine.submit(r, got.sink());
  const uint64_t full = engine.submit(greedy(prompt, 12), got.sink());
  engine.run_until_idle();
  const size_t first = std::find(ref.begin(), ref.end(), ref[4]) - ref.begin();
  EXPECT_EQ(got.at(stopped).tokens, std::vector<int32_t>(ref.begin(), ref.begin() + first + 1));
  EXPECT_EQ(got.at(stopped).finish, FinishReason::kStop);
  EXPECT_EQ(got.at(full).finish, FinishReason::kLength);
  EXPECT_EQ(got.at(full).chunks, 12) << "one chunk per token";
}

void expect_rejected(ServingEngine& engine, GenerationRequest r, const std::string& field, StatusCode code) {
  try {
    engine.submit(std::move(r), [](const GenerationChunk&) {});
    ADD_FAILURE() << "accepted; expected an error naming " << field;
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(Engine, InvalidRequestsAreRefusedUpFrontNamingTheField) {
  auto model = load_hf_model(fixture("qwen3-tiny-a"), {});
  EngineOptions eo;
  eo.kv_cache_blocks = 4;
  eo.block_size = 16;
  ServingEngine engine(*model, nullptr, eo);
  const StatusCode bad = StatusCode::kInvalidArgument;
  expect_rejected(engine, greedy({}, 4), "prompt", bad);
  expect_rejected(engine, greedy({1, 1000}, 4), "prompt_ids[1]", bad);
  expect_rejected(engine, greedy({1}, 0), "max_tokens", bad);
  expect_rejected(engine, greedy({1}, 256), "context length", bad);
  GenerationRequest r = greedy({1}, 4);
  r.n = 0;
  expect_rejected(engine, r, "n:", bad);
  r = greedy({1}, 4);
  r.sampling.top_p = 0;
  expect_rejected(engine, r, "top_p", bad);
  r = greedy({1}, 4);
  r.sampling.temperature = NAN;
  expect_rejected(engine, r, "temperature", bad);
  r = greedy({1}, 4);
  r.stop = {"x"};
  expect_rejected(engine, r, "tokenizer", bad);
  r = greedy({1}, 4);
  r.stop_token_ids = {-1};
  expect_rejected(engine, r, "stop_token_ids[0]", bad);
  // 100 tokens need 7 blocks; the pool has 4: refused at once rather than never finishing.
  expect_rejected(engine, greedy({1}, 99), "--kv-cache-mb", StatusCode::kResourceExhausted);
  EXPECT_EQ(engine.stats().requests, 0);
}

TEST(Engine, ThinkingBudgetForcesTheEndOfThinking) {
  const Tokenizer tok = Tokenizer::load(test::qwen3_tokenizer_files_dir());
  const ThinkTokens think = *find_think_tokens(tok);
  auto model = test::random_qwen3_vocab_model();  // Qwen3's vocabulary, for the real tokenizer
  ServingEngine engine(*model, &tok, {});
  Collector got;
  GenerationRequest r;
  r.prompt = tok.encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n");
  r.prompt_opens_reasoning = true;
  r.split_reasoning = true;
  r.max_tokens = 40;
  r.ignore_eos = true;
  r.thinking_budget = 6;
  r.thinking_early_stop = "\n\nTime is up.\n";
  const uint64_t id = engine.submit(r, got.sink());
  r.thinking_budget = 0;
  r.thinking_early_stop.clear();
  const uint64_t none = engine.submit(r, got.sink());
  engine.run_until_idle();

  const std::vector<int32_t> forced = tok.encode("\n\nTime is up.\n");
  const Output& o = got.at(id);
  ASSERT_GE(o.tokens.size(), 6 + forced.size() + 1);
  // Six tokens of thinking (whatever the random model wrote), then the early-stop text and </think>, forced.
  EXPECT_EQ(std::vector<int32_t>(o.tokens.begin() + 6, o.tokens.begin() + 6 + forced.size()), forced);
  EXPECT_EQ(o.tokens[6 + forced.size()], think.end);
  EXPECT_NE(o.reasoning.find("Time is up."), std::string::npos) << o.reasoning;
  const Output& z = got.at(none);
  EXPECT_EQ(z.tokens.front(), think.end) << "budget 0: the thinking ends at once";
  EXPECT_TRUE(z.reasoning.empty()) << z.reasoning;
  // The answer: the rest, newlines after </think> dropped (the template's lstrip).
  std::string answer = tok.decode(std::vector<int32_t>(z.tokens.begin() + 1, z.tokens.end()), true);
  answer.erase(0, std::min(answer.size(), answer.find_first_not_of('\n')));
  EXPECT_EQ(z.text, answer);
}

}  // namespace
}  // namespace stepwise
