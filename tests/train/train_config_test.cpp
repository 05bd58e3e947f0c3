// The YAML config: every example config parses, the resolved form reads back the same, and each kind of mistake
// is an error naming the file, line and key (or the --set override).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

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
  EXPECT_EQ(c.model.init.kind, ModelInit::Kind::kRandom);
  EXPECT_EQ(c.batch.grad_accum_steps, 4);
  EXPECT_DOUBLE_EQ(c.optimizer.schedule.lr, 3e-4);
  EXPECT_EQ(c.optimizer.schedule.decay, LrDecay::kCosine);
  EXPECT_EQ(c.train.steps, 100);
  EXPECT_EQ(c.checkpoint.keep_last, 3);
}

// A value other than the default for every field (values that need all their digits, for the float ones).
const std::map<std::string, std::string> kNonDefault = {
    {"run.output_dir", "'runs/with: colon'"}, {"run.seed", "9007199254740993"}, {"run.device", "cuda"},
    {"run.tp", "4"}, {"run.dp", "0"}, {"run.zero1", "true"}, {"run.cpu_accumulation", "float32"},
    {"model.config", "hf:models/x"}, {"model.init", "checkpoint:runs/old run"}, {"model.init_std", "0.0123456789"},
    {"data.train", "d/train"}, {"data.eval", "d/eval"},
    {"batch.micro_batch_rows", "3"}, {"batch.row_length", "4097"}, {"batch.grad_accum_steps", "5"},
    {"optimizer.lr", "0.000123456789012345"}, {"optimizer.min_lr", "1.5e-05"}, {"optimizer.warmup_steps", "7"},
    {"optimizer.decay", "linear"}, {"optimizer.weight_decay", "0.0123457"}, {"optimizer.beta1", "0.8765432"},
    {"optimizer.beta2", "0.9876543"}, {"optimizer.eps", "3.3e-07"}, {"optimizer.clip_norm", "0.25"},
    {"train.steps", "11"}, {"train.max_bad_steps", "6"}, {"train.log_every", "2"},
    {"eval.every", "13"}, {"eval.max_batches", "17"},
    {"checkpoint.every", "19"}, {"checkpoint.keep_last", "23"},
};
// train.epochs excludes train.steps: it gets its own config.
const std::map<std::string, std::string> kExclusive = {{"train.epochs", "2.5"}};

std::string yaml_of(const std::map<std::string, std::string>& fields) {
  std::map<std::string, std::string> sections;
  for (const auto& [key, value] : fields) {
    const size_t dot = key.find('.');
    sections[key.substr(0, dot)] += "  " + key.substr(dot + 1) + ": " + value + "\n";
  }
  std::string yaml;
  for (const auto& [name, body] : sections) yaml += name + ":\n" + body;
  return yaml;
}

TEST(TrainConfig, EveryFieldRoundTripsAsAParsedStruct) {
  const ConfigSchema<TrainConfig>& schema = train_config_schema();
  for (const ConfigFieldInfo& f : schema.fields())
    EXPECT_TRUE(kNonDefault.count(f.key) + kExclusive.count(f.key) == 1) << f.key << ": give it a test value here";
  const std::map<std::string, std::string> required = {
      {"run.output_dir", "o"}, {"model.config", "m"}, {"data.train", "d"}, {"optimizer.lr", "1"}, {"train.steps", "1"}};
  const TrainConfig baseline = parse_train_config(yaml_of(required), "base.yaml");
  // Each field alone reaches the struct (the parsed config differs from the baseline).
  for (const auto& [key, value] : kNonDefault) {
    std::map<std::string, std::string> one = required;
    one[key] = value;
    if (key == "eval.every") one["data.eval"] = "d/eval";
    EXPECT_FALSE(schema.equal(parse_train_config(yaml_of(one), "one.yaml"), baseline)) << key;
  }
  std::map<std::string, std::string> by_epochs = required;
  by_epochs.erase("train.steps");
  by_epochs.insert(kExclusive.begin(), kExclusive.end());
  for (const auto& fields : {kNonDefault, by_epochs}) {
    const TrainConfig c = parse_train_config(yaml_of(fields), "all.yaml");
    const TrainConfig back = parse_train_config(c.to_yaml(), "resolved.yaml");
    EXPECT_TRUE(schema.equal(back, c)) << c.to_yaml() << "\nread back as\n" << back.to_yaml();
  }
  // The typed values, as the code reads them.
  const TrainConfig c = parse_train_config(yaml_of(kNonDefault), "all.yaml");
  EXPECT_EQ(c.run.output_dir, "runs/with: colon");
  EXPECT_EQ(c.run.seed, 9007199254740993ull);  // past 2^53: read as an integer, never through a double
  EXPECT_EQ(c.run.device, Device::kCUDA);
  EXPECT_EQ(c.model.init.kind, ModelInit::Kind::kCheckpoint);
  EXPECT_EQ(c.model.init.dir, "runs/old run");
  EXPECT_EQ(c.optimizer.schedule.decay, LrDecay::kLinear);
  EXPECT_EQ(c.optimizer.schedule.lr, 0.000123456789012345);
  EXPECT_EQ(c.optimizer.adamw.beta2, 0.9876543f);
  EXPECT_EQ(c.optimizer.adamw.eps, 3.3e-07f);
}

// The defaults live once, in the structs: the schema reports them, and the optimizer's struct is the config's.
TEST(TrainConfig, DefaultsComeFromTheStructs) {
  const AdamWConfig adamw;
  std::map<std::string, std::string> defaults;
  for (const ConfigFieldInfo& f : train_config_schema().fields()) defaults[f.key] = f.default_text;
  EXPECT_EQ(defaults["optimizer.beta2"], "0.95");
  EXPECT_EQ(adamw.beta2, 0.95f);
  const TrainConfig c = parse_train_config(kValid, "cfg.yaml");
  EXPECT_EQ(c.optimizer.adamw.beta1, adamw.beta1);
  EXPECT_EQ(c.optimizer.adamw.beta2, adamw.beta2);
  EXPECT_EQ(c.optimizer.adamw.eps, adamw.eps);
  EXPECT_EQ(c.optimizer.adamw.weight_decay, adamw.weight_decay);
  EXPECT_EQ(c.optimizer.adamw.clip_norm, adamw.clip_norm);
}

TEST(TrainConfig, ReferenceInTheDocsIsTheSchemas) {
  std::ifstream in(std::string(STEPWISE_ROOT_DIR) + "/docs/sft.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t begin = doc.find("<!-- config-reference:begin"), end = doc.find("<!-- config-reference:end -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const size_t table = doc.find('\n', begin) + 1;
  EXPECT_EQ(doc.substr(table, end - table), train_config_schema().markdown_reference())
      << "docs/sft.md's configuration reference is out of date: replace it with `stepwise train --help-config`";
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
