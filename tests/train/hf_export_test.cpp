// Hugging Face export: a trained checkpoint exported, reloaded by load_hf_model, gives identical logits; tied
// embeddings are written without lm_head.weight; SFT starts from a Hugging Face folder (init: hf:DIR, the
// fixtures: bf16 tied and f32 sharded untied).
#include <gtest/gtest.h>

#include <filesystem>

#include "io/checkpoint_dir.h"
#include "io/safetensors.h"
#include "model/hf_export.h"
#include "model/hf_model.h"
#include "train/loop.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

TokenBatch probe_batch(int32_t vocab) {
  TokenBatch b;
  std::vector<int32_t> doc;
  for (int32_t t = 0; t < 20; ++t) doc.push_back((7 * t + 3) % vocab);
  b.add_document(doc);
  b.add_document(std::vector<int32_t>(doc.begin(), doc.begin() + 9));
  return b;
}

std::string fixture(const std::string& name) { return std::string(STEPWISE_TEST_DATA_DIR) + "/fixtures/" + name; }

class HfExport : public ::testing::TestWithParam<std::string> {};

// SFT from the fixture, then export and reload: the reloaded model computes exactly the trained model's logits.
TEST_P(HfExport, TrainFromHfExportReloadIdenticalLogits) {
  const std::string dir = fresh_test_dir("export_" + GetParam());
  const Qwen3Config fx = load_qwen3_config(fixture(GetParam()) + "/config.json");
  write_random_dataset(dir + "/data", 30, 8, 30, static_cast<int32_t>(fx.vocab_size), 2);
  TrainConfig cfg = tiny_train_config(dir + "/run", "hf:" + fixture(GetParam()), dir + "/data", 3);
  cfg.model.init = {ModelInit::Kind::kHuggingFace, fixture(GetParam())};
  RunOptions quiet;
  quiet.log = nullptr;
  TrainResult trained = run_sft(cfg, quiet);
  const std::vector<float> ours = trained.model->forward_logits(probe_batch(static_cast<int32_t>(fx.vocab_size)))
                                      .to_f32_vector();

  export_checkpoint_to_hf(dir + "/run", dir + "/hf");
  const auto reloaded = load_hf_model(dir + "/hf", ModelOptions{});
  EXPECT_EQ(reloaded->forward_logits(probe_batch(static_cast<int32_t>(fx.vocab_size))).to_f32_vector(), ours);

  const auto file = SafetensorsFile::open(dir + "/hf/model.safetensors");
  EXPECT_EQ(file->has("lm_head.weight"), !fx.tie_word_embeddings);
  EXPECT_TRUE(file->has("model.embed_tokens.weight"));
  EXPECT_EQ(load_qwen3_config(dir + "/hf/config.json").tie_word_embeddings, fx.tie_word_embeddings);
  // Training moved the weights away from the fixture's.
  const auto original = load_hf_model(fixture(GetParam()), ModelOptions{});
  EXPECT_NE(original->forward_logits(probe_batch(static_cast<int32_t>(fx.vocab_size))).to_f32_vector(), ours);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfExport, ::testing::Values("qwen3-tiny-a", "qwen3-tiny-b"));

TEST(HfExportModel, HeldModelRoundTripsAndBf16Export) {
  const std::string dir = fresh_test_dir("export_model");
  Qwen3Model m(tiny_config(64, 32, 2), ModelOptions{});
  m.init_random(5);
  export_model_to_hf(m, dir + "/f32");
  const auto back = load_hf_model(dir + "/f32", ModelOptions{});
  EXPECT_EQ(back->forward_logits(probe_batch(64)).to_f32_vector(), m.forward_logits(probe_batch(64)).to_f32_vector());
  export_model_to_hf(m, dir + "/bf16", DType::kBF16);
  const auto file = SafetensorsFile::open(dir + "/bf16/model.safetensors");
  EXPECT_EQ(file->info("model.embed_tokens.weight").dtype, StDType::kBF16);
  EXPECT_FALSE(file->has("lm_head.weight"));
}

TEST(HfExportModel, CheckpointInitLoadsTheSameWeights) {
  const std::string dir = fresh_test_dir("ckpt_init");
  write_random_dataset(dir + "/data", 30, 8, 30, 64, 3);
  const std::string model = write_model_config(dir + "/model", tiny_config());
  RunOptions quiet;
  quiet.log = nullptr;
  TrainResult a = run_sft(tiny_train_config(dir + "/a", model, dir + "/data", 2), quiet);
  TrainConfig from = tiny_train_config(dir + "/b", model, dir + "/data", 1);
  from.model.init = {ModelInit::Kind::kCheckpoint, dir + "/a"};
  from.optimizer.schedule.lr = 0;  // a step that changes nothing: compare the loaded weights
  from.optimizer.adamw.weight_decay = 0;
  TrainResult b = run_sft(from, quiet);
  EXPECT_EQ(b.model->forward_logits(probe_batch(64)).to_f32_vector(),
            a.model->forward_logits(probe_batch(64)).to_f32_vector());
}

}  // namespace
}  // namespace stepwise::train_test
