// The loop's numerics against independent runs: a packed micro-batch against each document alone, k accumulated
// micro-batches against one batch k times larger, the learning-rate schedule against its formula, and the
// handling of non-finite steps.
#include <gtest/gtest.h>

#include <cmath>

#include "../common/numerics.h"
#include "core/status.h"
#include "model/hf_export.h"
#include "train/loader.h"
#include "train/loop.h"
#include "train/trainer_optimizer.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

std::unique_ptr<Qwen3Model> tiny_model(uint64_t seed = 1) {
  auto m = std::make_unique<Qwen3Model>(tiny_config(64, 32, 2), ModelOptions{});
  m->init_random(seed, 0.2f);  // large weights: non-trivial logits
  return m;
}

// Documents with a prompt part that is not trained on.
std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> documents(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> docs;
  for (int d = 0; d < n; ++d) {
    const int len = 5 + static_cast<int>(rng.below(30));
    std::vector<int32_t> tokens(len), labels(len);
    for (int t = 0; t < len; ++t) {
      tokens[t] = static_cast<int32_t>(rng.below(64));
      labels[t] = t < len / 2 ? kIgnoreTarget : tokens[t];
    }
    docs.emplace_back(tokens, labels);
  }
  return docs;
}

// Every parameter's values, in the model's order.
std::vector<std::vector<float>> weights_of(const Qwen3Model& model) {
  std::vector<std::vector<float>> w;
  for (const Parameter& p : model.parameters()) w.push_back(p.value.to_f32_vector());
  return w;
}

TEST(Loop, PackedDocumentsGiveTheLogitsAndLossOfEachDocumentAlone) {
  auto model = tiny_model();
  const auto docs = documents(6, 2);
  TokenBatch packed;
  for (const auto& [t, l] : docs) packed.add_document(t, l);
  const std::vector<float> packed_logits = model->forward_logits(packed).to_f32_vector();
  const LossSum packed_loss = model->forward_loss(packed);
  const int64_t vocab = 64;
  LossSum alone_loss;
  int64_t offset = 0;
  for (const auto& [t, l] : docs) {
    TokenBatch one;
    one.add_document(t, l);
    const std::vector<float> logits = model->forward_logits(one).to_f32_vector();
    const std::vector<float> part(packed_logits.begin() + offset * vocab,
                                  packed_logits.begin() + (offset + one.size()) * vocab);
    EXPECT_LE(testing::rel_error(part, logits, testing::Norm::kL2), 1e-6);
    const LossSum l1 = model->forward_loss(one);
    alone_loss.sum += l1.sum;
    alone_loss.count += l1.count;
    offset += one.size();
  }
  EXPECT_EQ(packed_loss.count, alone_loss.count);
  EXPECT_NEAR(packed_loss.sum, alone_loss.sum, 1e-5 * alone_loss.sum);
}

TEST(Loop, AccumulatedMicroBatchesGiveTheGradientOfOneLargeBatch) {
  const auto docs = documents(12, 3);
  auto dp = make_single_process_communicator("dp");
  // k = 3 micro-batches of 4 documents each ...
  auto a = tiny_model();
  std::vector<TokenBatch> micro(3);
  for (size_t d = 0; d < docs.size(); ++d) micro[d / 4].add_document(docs[d].first, docs[d].second);
  a->zero_grads();
  const StepLoss la = accumulate_gradients(*a, micro, *dp);
  // ... against one batch holding all 12, its loss divided by its own target count.
  auto b = tiny_model();
  TokenBatch big;
  for (const auto& [t, l] : docs) big.add_document(t, l);
  b->zero_grads();
  const LossSum lb = b->forward_backward(big, 1.0f / static_cast<float>(big.num_targets()));
  EXPECT_EQ(la.loss.count, lb.count);
  EXPECT_EQ(la.tokens, big.size());
  EXPECT_NEAR(la.loss.mean(), lb.mean(), 1e-6 * lb.mean());
  for (size_t p = 0; p < a->parameters().size(); ++p) {
    const std::vector<float> ga = a->parameters()[p].grad.to_f32_vector(), gb = b->parameters()[p].grad.to_f32_vector();
    EXPECT_LE(testing::rel_error(ga, gb, testing::Norm::kL2), 1e-5) << a->parameters()[p].name;
  }
}

TEST(Loop, LearningRateScheduleFollowsItsFormula) {
  LrSchedule s;
  s.lr = 1e-3;
  s.min_lr = 1e-4;
  s.warmup_steps = 10;
  s.total_steps = 111;  // 100 decay steps after the warmup
  EXPECT_DOUBLE_EQ(learning_rate(s, 0), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(s, 4), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate(s, 9), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(s, 10), 1e-3);  // the decay starts at lr
  EXPECT_NEAR(learning_rate(s, 60), 0.55e-3, 1e-15);  // halfway: the mean of lr and min_lr
  EXPECT_NEAR(learning_rate(s, 110), 1e-4, 1e-15);    // the last step: min_lr
  EXPECT_NEAR(learning_rate(s, 35), 1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  s.decay = LrDecay::kLinear;
  EXPECT_NEAR(learning_rate(s, 43), 1e-4 + 0.9e-3 * (1 - 0.33), 1e-15);
  s.decay = LrDecay::kConstant;
  EXPECT_DOUBLE_EQ(learning_rate(s, 100), 1e-3);
}

TEST(Loop, NonFiniteGradientSkipsTheStepAndLeavesTheWeights) {
  auto model = tiny_model();
  ProcessGrid grid = make_single_process_grid();
  OptimizerSection cfg;
  TrainerOptimizer opt(*model, cfg, grid, false);
  const auto docs = documents(2, 4);
  TokenBatch b;
  for (const auto& [t, l] : docs) b.add_document(t, l);
  model->zero_grads();
  model->forward_backward(b, 1.0f / static_cast<float>(b.num_targets()));
  const std::vector<std::vector<float>> before = weights_of(*model);
  const auto expect_every_weight = [&](bool unchanged, const char* when) {
    const std::vector<std::vector<float>> now = weights_of(*model);
    for (size_t i = 0; i < now.size(); ++i)
      EXPECT_EQ(now[i] == before[i], unchanged) << model->parameters()[i].name << " " << when;
  };
  model->parameters()[3].grad.data_as<float>()[5] = NAN;
  const OptimizerStepResult r = opt.step(1e-2, true);
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(std::isnan(r.grad_norm));
  expect_every_weight(true, "after a step with a NaN gradient");
  // A non-finite loss with finite gradients is skipped too; then a clean step changes every tensor (each has
  // elements with a nonzero gradient).
  model->zero_grads();
  model->forward_backward(b, 1.0f / static_cast<float>(b.num_targets()));
  EXPECT_FALSE(opt.step(1e-2, false).applied);
  expect_every_weight(true, "after a step with a non-finite loss");
  EXPECT_TRUE(opt.step(1e-2, true).applied);
  expect_every_weight(false, "after a clean step");
}

TEST(Loop, ConsecutiveNonFiniteStepsStopTheRun) {
  const std::string dir = fresh_test_dir("diverge");
  write_random_dataset(dir + "/data", 40, 8, 30, 64, 1);
  // A model with one NaN weight (as after a blow-up): every step's loss is NaN.
  Qwen3Model poisoned(tiny_config(), ModelOptions{});
  poisoned.init_random(1);
  for (Parameter& p : poisoned.parameters())
    if (p.name == "model.norm.weight") p.value.data_as<float>()[0] = NAN;
  export_model_to_hf(poisoned, dir + "/model");
  TrainConfig cfg = tiny_train_config(dir + "/run", "hf:" + dir + "/model", dir + "/data", 20);
  cfg.model.init = {ModelInit::Kind::kHuggingFace, dir + "/model"};
  cfg.train.max_bad_steps = 3;
  std::FILE* sink = std::tmpfile();
  RunOptions o;
  o.log = sink;
  try {
    run_sft(cfg, o);
    FAIL() << "a diverged run did not stop";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("3 consecutive steps"), std::string::npos) << e.what();
  }
  std::rewind(sink);
  std::string log(1 << 16, '\0');
  log.resize(std::fread(log.data(), 1, log.size(), sink));
  std::fclose(sink);
  EXPECT_NE(log.find("step skipped (1 in a row; 3 stop the run)"), std::string::npos) << log;
  EXPECT_NE(log.find("step skipped (3 in a row"), std::string::npos) << log;
}

}  // namespace
}  // namespace stepwise::train_test
