// The YAML config: every example config parses, the resolved form reads back the same, and each kind of mistake
// is an error naming the file, line and key (or the --set override).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/status.h"
#include "train/train_config.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

const char* kValid = R"(run:
  output_dir: runs/x
  seed: 3
model:
  config: qwen3-tiny
data:
  train: data/train
  eval: data/eval
batch:
  micro_batch_rows: 2
  row_length: 512
  grad_accum_steps: 4
optimizer:
  lr: 3e-4
  min_lr: 3e-5
  warmup_steps: 10
train:
  steps: 100
eval:
  every: 20
checkpoint:
  every: 50
)";

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_train_config(yaml, "cfg.yaml", overrides);
    return "no error";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    return e.what();
  }
}

std::string with(const std::string& from, const std::string& to) {
  std::string s = kValid;
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(TrainConfig, ParsesTypedSections) {
  const TrainConfig c = parse_train_config(kValid, "cfg.yaml");
  EXPECT_EQ(c.run.output_dir, "runs/x");
  EXPECT_EQ(c.run.seed, 3u);
  EXPECT_EQ(c.run.device, Device::kCPU);
  EXPECT_EQ(c.model.init, "random");
  EXPECT_EQ(c.batch.grad_accum_steps, 4);
  EXPECT_DOUBLE_EQ(c.optimizer.schedule.lr, 3e-4);
  EXPECT_EQ(c.optimizer.schedule.decay, LrDecay::kCosine);
  EXPECT_EQ(c.train.steps, 100);
  EXPECT_EQ(c.checkpoint.keep_last, 3);
}

TEST(TrainConfig, ResolvedYamlReadsBackTheSame) {
  const TrainConfig c = parse_train_config(kValid, "cfg.yaml", {"optimizer.lr=1.5e-4", "run.zero1=true"});
  const TrainConfig back = parse_train_config(c.to_yaml(), "resolved.yaml");
  EXPECT_EQ(back.to_yaml().substr(back.to_yaml().find('\n')), c.to_yaml().substr(c.to_yaml().find('\n')));
  EXPECT_DOUBLE_EQ(back.optimizer.schedule.lr, 1.5e-4);
  EXPECT_TRUE(back.run.zero1);
}

TEST(TrainConfig, ExampleConfigsParse) {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(STEPWISE_ROOT_DIR) + "/configs/sft")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_train_config(entry.path().string()));
  }
}

TEST(TrainConfig, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(error_of(with("  lr: 3e-4", "  lr: fast")), "cfg.yaml:14: optimizer.lr must be a number, got 'fast'");
  EXPECT_EQ(error_of(with("  row_length: 512", "  row_length: 1")),
            "cfg.yaml:11: batch.row_length = 1 is out of range [2, 16777216]");
  EXPECT_EQ(error_of(with("  seed: 3", "  seed: 3\n  sede: 4")).substr(0, 42),
            "cfg.yaml:4: unknown key run.sede (run has:");
  EXPECT_EQ(error_of(with("\neval:", "\nevaluation:")).substr(0, 39), "cfg.yaml:19: unknown section evaluation");
  EXPECT_EQ(error_of(with("  micro_batch_rows: 2", "  micro_batch_rows: [2]")),
            "cfg.yaml:10: batch.micro_batch_rows must be a single value, got a list");
  EXPECT_EQ(error_of(with("  config: qwen3-tiny\n", "")), "cfg.yaml:4: model.config is required");
  EXPECT_NE(error_of(with("  steps: 100", "  epochs: 2\n  steps: 100")).find("exactly one of train.steps"),
            std::string::npos);
  EXPECT_NE(error_of(with("  min_lr: 3e-5", "  min_lr: 3e-3")).find("cfg.yaml:15: optimizer.min_lr"),
            std::string::npos);
  EXPECT_NE(error_of(with("  eval: data/eval\n", "")).find("eval.every needs data.eval"), std::string::npos);
  EXPECT_NE(error_of(with("  seed: 3", "  seed: 3\n  device: tpu")).find("run.device must be cpu or cuda"),
            std::string::npos);
  EXPECT_NE(error_of("run: [1, 2]").find("run must be a mapping"), std::string::npos);
  EXPECT_NE(error_of("run:\n  output_dir: x\n bad indent: 1\n").find("not valid YAML"), std::string::npos);
}

TEST(TrainConfig, OverridesApplyAndAreNamedInErrors) {
  const TrainConfig c = parse_train_config(kValid, "cfg.yaml", {"optimizer.lr=1e-3", "train.steps=7"});
  EXPECT_DOUBLE_EQ(c.optimizer.schedule.lr, 1e-3);
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(error_of(kValid, {"optimizer.lr=abc"}), "--set optimizer.lr: optimizer.lr must be a number, got 'abc'");
  EXPECT_EQ(error_of(kValid, {"optimizer.lrr=1"}).substr(0, 47), "--set optimizer.lrr: unknown key optimizer.lrr ");
  EXPECT_NE(error_of(kValid, {"lr=1"}).find("expected section.key=value"), std::string::npos);
}

}  // namespace
}  // namespace stepwise::train_test
