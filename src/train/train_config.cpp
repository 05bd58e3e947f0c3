// The SFT config's schema (every field's key, range and doc, once), the checks that span fields, and its typed
// values.
#include "train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "core/status.h"

namespace stepwise {

namespace {

constexpr double kInt32Max = std::numeric_limits<int32_t>::max();

ConfigSchema<TrainConfig> make_schema() {
  using C = TrainConfig;
  ConfigSchema<C> s;
  s.section("run", "where the run writes and how it is laid out over ranks");
  s.field("run.output_dir", &C::run, &RunSection::output_dir).required()
      .doc("run directory: checkpoints/, metrics.jsonl, loss_curve.svg, config.yaml");
  s.field("run.seed", &C::run, &RunSection::seed).at_least(0).doc("random initialisation and data order");
  s.field("run.device", &C::run, &RunSection::device)
      .doc("cpu (f32, the reference) or cuda (bf16 weights and activations, f32 master weights)");
  s.field("run.tp", &C::run, &RunSection::tp).range(1, 4096).doc("tensor-parallel size");
  s.field("run.dp", &C::run, &RunSection::dp).range(0, 1 << 20)
      .doc("data-parallel size; 0: world size / tp (tp x dp = the ranks launched)");
  s.field("run.zero1", &C::run, &RunSection::zero1).doc("shard the optimizer state over the DP ranks (ZeRO-1)");
  s.field("run.cpu_accumulation", &C::run, &RunSection::cpu_accumulation)
      .doc("CPU matmuls and attention: float64 (the reference; results independent of the BLAS kernels) or "
           "float32 (about twice as fast)");

  s.section("model", "the model and its first weights");
  s.field("model.config", &C::model, &ModelSection::config).required()
      .doc("a preset (qwen3-0.6b ... qwen3-32b, qwen3-tiny: configs/models/) or hf:DIR (its config.json)");
  s.field("model.init", &C::model, &ModelSection::init)
      .doc("random; hf:DIR: Hugging Face weights of the model.config model; checkpoint:DIR: the weights of a "
           "stepwise checkpoint or run (any TP layout), with a fresh optimizer");
  s.field("model.init_std", &C::model, &ModelSection::init_std).range(1e-6, 1.0)
      .doc("standard deviation of the random initialisation of matrices (norms start at 1)");

  s.section("data", "token datasets made by `stepwise data prepare`");
  s.field("data.train", &C::data, &DataSection::train).required().doc("the training dataset directory");
  s.field("data.eval", &C::data, &DataSection::eval).doc("a held-out dataset directory (empty: none)");

  s.section("batch", "packed rows and gradient accumulation");
  s.field("batch.micro_batch_rows", &C::batch, &BatchSection::micro_batch_rows).range(1, 1 << 16)
      .doc("rows per forward/backward pass");
  s.field("batch.row_length", &C::batch, &BatchSection::row_length).range(2, 1 << 24)
      .doc("tokens per packed row (at least the longest document)");
  s.field("batch.grad_accum_steps", &C::batch, &BatchSection::grad_accum_steps).range(1, 1 << 16)
      .doc("micro-batches per optimizer step, per DP rank");

  s.section("optimizer", "AdamW (PyTorch semantics) and the learning-rate schedule");
  s.field("optimizer.lr", &C::optimizer, &OptimizerSection::schedule, &LrSchedule::lr).required().range(0, 10)
      .doc("peak learning rate");
  s.field("optimizer.min_lr", &C::optimizer, &OptimizerSection::schedule, &LrSchedule::min_lr).range(0, 10)
      .doc("learning rate at the last step (at most lr)");
  s.field("optimizer.warmup_steps", &C::optimizer, &OptimizerSection::schedule, &LrSchedule::warmup_steps)
      .range(0, kInt32Max).doc("linear warmup from 0 over this many steps");
  s.field("optimizer.decay", &C::optimizer, &OptimizerSection::schedule, &LrSchedule::decay)
      .doc("the decay after warmup, from lr to min_lr");
  s.field("optimizer.weight_decay", &C::optimizer, &OptimizerSection::adamw, &AdamWConfig::weight_decay)
      .range(0, 10).doc("decoupled weight decay, on matrices only");
  // beta < 1 as stored: a float above 0.99999994 rounds to 1, and 1 - beta^t would then be 0.
  s.field("optimizer.beta1", &C::optimizer, &OptimizerSection::adamw, &AdamWConfig::beta1).range(0, 0.9999999)
      .doc("decay of the gradient's moving average");
  s.field("optimizer.beta2", &C::optimizer, &OptimizerSection::adamw, &AdamWConfig::beta2).range(0, 0.9999999)
      .doc("decay of the squared gradient's moving average");
  s.field("optimizer.eps", &C::optimizer, &OptimizerSection::adamw, &AdamWConfig::eps).range(1e-30, 1)
      .doc("added to the update's denominator");
  s.field("optimizer.clip_norm", &C::optimizer, &OptimizerSection::adamw, &AdamWConfig::clip_norm).range(0, 1e9)
      .doc("clip the global gradient norm to this (0: no clipping)");

  s.section("train", "how long to train");
  s.field("train.steps", &C::train, &TrainSection::steps).at_least(0).doc("optimizer steps (give steps or epochs)");
  s.field("train.epochs", &C::train, &TrainSection::epochs).range(0, 1e6)
      .doc("passes over the training data, rounded to whole steps");
  s.field("train.max_bad_steps", &C::train, &TrainSection::max_bad_steps).range(1, kInt32Max)
      .doc("consecutive steps with a non-finite loss or gradient that stop the run");
  s.field("train.log_every", &C::train, &TrainSection::log_every).range(1, kInt32Max)
      .doc("steps between progress lines and metrics records");

  s.section("eval", "loss on the held-out dataset");
  s.field("eval.every", &C::eval, &EvalSection::every).at_least(0)
      .doc("steps between evaluations (needs data.eval); the end of the run always evaluates");
  s.field("eval.max_batches", &C::eval, &EvalSection::max_batches).at_least(0)
      .doc("eval micro-batches per DP rank; 0: the whole dataset");

  s.section("checkpoint", "checkpoints for exact resume");
  s.field("checkpoint.every", &C::checkpoint, &CheckpointSection::every).at_least(0)
      .doc("steps between checkpoints; the end of a run and --stop-after always write one");
  s.field("checkpoint.keep_last", &C::checkpoint, &CheckpointSection::keep_last).range(1, kInt32Max)
      .doc("complete checkpoints kept (older ones are removed)");
  return s;
}

// The checks that span fields, each error at the key that has to change.
void check(const TrainConfig& c, const ConfigLocator& at) {
  if (c.optimizer.schedule.min_lr > c.optimizer.schedule.lr)
    invalid_argument(at.where("optimizer.min_lr"), ": optimizer.min_lr (", c.optimizer.schedule.min_lr,
                     ") must not exceed optimizer.lr (", c.optimizer.schedule.lr, ")");
  if ((c.train.steps > 0) == (c.train.epochs > 0))
    invalid_argument(at.where(c.train.steps > 0 ? "train.epochs" : "train.steps"),
                     ": give exactly one of train.steps and train.epochs (a positive number)");
  if (c.eval.every > 0 && c.data.eval.empty())
    invalid_argument(at.where("eval.every"), ": eval.every needs data.eval (a held-out token dataset)");
}

}  // namespace

const ConfigSchema<TrainConfig>& train_config_schema() {
  static const ConfigSchema<TrainConfig> schema = make_schema();
  return schema;
}

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source,
                               const std::vector<std::string>& overrides) {
  ConfigLocator at;
  TrainConfig c = train_config_schema().parse(yaml_text, source, overrides, &at);
  c.source = source;
  check(c, at);
  return c;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) fail(StatusCode::kNotFound, "cannot read config ", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_train_config(text.str(), path, overrides);
}

std::string TrainConfig::to_yaml() const {
  return train_config_schema().to_yaml(*this, "resolved configuration (from " + source + ")");
}

std::optional<ModelInit> ConfigValue<ModelInit>::parse(const YAML::Node& n) {
  const std::string text = scalar_text(n);
  const auto dir_after = [&text](const std::string& prefix) -> std::optional<std::string> {
    if (text.rfind(prefix, 0) != 0 || text.size() == prefix.size()) return std::nullopt;
    return text.substr(prefix.size());
  };
  if (text == "random") return ModelInit{};
  if (auto dir = dir_after("hf:")) return ModelInit{ModelInit::Kind::kHuggingFace, *dir};
  if (auto dir = dir_after("checkpoint:")) return ModelInit{ModelInit::Kind::kCheckpoint, *dir};
  return std::nullopt;
}

std::string ConfigValue<ModelInit>::format(const ModelInit& v) {
  switch (v.kind) {
    case ModelInit::Kind::kHuggingFace: return ConfigValue<std::string>::format("hf:" + v.dir);
    case ModelInit::Kind::kCheckpoint: return ConfigValue<std::string>::format("checkpoint:" + v.dir);
    case ModelInit::Kind::kRandom: break;
  }
  return "random";
}

std::optional<kernels::CpuAccumulation> ConfigValue<kernels::CpuAccumulation>::parse(const YAML::Node& n) {
  if (scalar_text(n) == "float64") return kernels::CpuAccumulation::kFloat64;
  if (scalar_text(n) == "float32") return kernels::CpuAccumulation::kFloat32;
  return std::nullopt;
}

std::string ConfigValue<kernels::CpuAccumulation>::format(kernels::CpuAccumulation v) {
  return v == kernels::CpuAccumulation::kFloat32 ? "float32" : "float64";
}

std::optional<LrDecay> ConfigValue<LrDecay>::parse(const YAML::Node& n) {
  for (LrDecay d : {LrDecay::kCosine, LrDecay::kLinear, LrDecay::kConstant})
    if (scalar_text(n) == lr_decay_name(d)) return d;
  return std::nullopt;
}

}  // namespace stepwise
