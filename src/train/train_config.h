// The SFT run configuration: one YAML file read into typed sections (Megatron style). Each field's type and
// default are its member declaration below; its key, range and doc are one entry of train_config_schema()
// (train_config.cpp), which drives parsing (errors name the file, line and key; unknown keys are rejected by name;
// "--set key=value" overrides are applied first and named as such), to_yaml(), the field reference in docs/sft.md and
// `stepwise train --help-config`. configs/sft/ holds examples.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config_schema.h"
#include "core/dtype.h"
#include "kernels/ops.h"
#include "train/adamw_config.h"
#include "train/lr_schedule.h"

namespace stepwise {

// model.init: where the first weights come from, typed when the config is read.
struct ModelInit {
  enum class Kind { kRandom, kHuggingFace, kCheckpoint };
  Kind kind = Kind::kRandom;
  std::string dir;  // kHuggingFace: a Hugging Face model folder; kCheckpoint: a checkpoint or run directory
  bool operator==(const ModelInit& o) const { return kind == o.kind && dir == o.dir; }
};

struct RunSection {
  std::string output_dir;  // run directory: checkpoints/, metrics.jsonl, loss_curve.svg, config.yaml
  uint64_t seed = 1234;    // model init (random) and data order
  Device device = Device::kCPU;
  int tp = 1;              // tensor-parallel size
  int dp = 1;              // data-parallel size; 0: world size / tp
  bool zero1 = false;      // shard optimizer state over DP
  kernels::CpuAccumulation cpu_accumulation = kernels::CpuAccumulation::kFloat64;
};

struct ModelSection {
  std::string config;  // a preset name (configs/models/<name>.json) or hf:DIR (its config.json)
  ModelInit init;
  double init_std = 0.02;  // for random init
};

struct DataSection {
  std::string train;  // token dataset directories (`stepwise data prepare`)
  std::string eval;   // optional
};

struct BatchSection {
  int64_t micro_batch_rows = 1;  // rows per forward/backward
  int64_t row_length = 2048;     // tokens per packed row
  int64_t grad_accum_steps = 1;  // micro-batches per optimizer step (per DP rank)
};

struct OptimizerSection {
  LrSchedule schedule;  // total_steps filled in from train.steps / epochs
  AdamWConfig adamw;
};

struct TrainSection {
  int64_t steps = 0;          // optimizer steps; or
  double epochs = 0;          // passes over the training data (rounded to whole steps)
  int64_t max_bad_steps = 3;  // consecutive non-finite steps that stop the run
  int64_t log_every = 1;      // steps between progress lines / metrics records
};

struct EvalSection {
  int64_t every = 0;        // steps between evaluations (0: only at the end, when data.eval is set)
  int64_t max_batches = 0;  // per DP rank; 0: the whole eval set
};

struct CheckpointSection {
  int64_t every = 0;      // steps between checkpoints (0: only at the end)
  int64_t keep_last = 3;  // complete checkpoints kept
};

struct TrainConfig {
  RunSection run;
  ModelSection model;
  DataSection data;
  BatchSection batch;
  OptimizerSection optimizer;
  TrainSection train;
  EvalSection eval;
  CheckpointSection checkpoint;
  std::string source;  // the file read, for messages

  std::string to_yaml() const;  // every field, resolved: a file that parse_train_config reads back equal
};

const ConfigSchema<TrainConfig>& train_config_schema();

// `overrides` are "section.key=value" (the value parsed as YAML). Errors are INVALID_ARGUMENT.
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source,
                               const std::vector<std::string>& overrides = {});
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides = {});

template <>
struct ConfigValue<ModelInit> {
  static std::optional<ModelInit> parse(const YAML::Node& n);
  static std::string format(const ModelInit& v);
  static std::string type() { return "random, hf:DIR or checkpoint:DIR"; }
};
template <>
struct ConfigValue<kernels::CpuAccumulation> {
  static std::optional<kernels::CpuAccumulation> parse(const YAML::Node& n);
  static std::string format(kernels::CpuAccumulation v);
  static std::string type() { return "float64 or float32"; }
};
template <>
struct ConfigValue<LrDecay> {
  static std::optional<LrDecay> parse(const YAML::Node& n);
  static std::string format(LrDecay v) { return lr_decay_name(v); }
  static std::string type() { return "cosine, linear or constant"; }
};

}  // namespace stepwise
