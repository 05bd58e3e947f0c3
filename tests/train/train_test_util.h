// Shared by the SFT tests: the data and tokenizer they use, tiny models and
// synthetic token datasets, and running the stepwise binary as a child process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/test_dir.h"
#include "io/hf_config.h"
#include "train/train_config.h"

namespace stepwise::train_test {

using test::fresh_test_dir;
std::string qwen3_tokenizer_dir();               // installed by scripts/setup.sh (npm)
std::string reasoning_data(const std::string& name);  // tests/data/reasoning/<name>
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);

// A Qwen3 config small enough for many training steps in a test.
Qwen3Config tiny_config(int64_t vocab = 64, int64_t hidden = 32, int64_t layers = 2);
// Writes dir/config.json; returns "hf:<dir>" (a model.config value).
std::string write_model_config(const std::string& dir, const Qwen3Config& config);

// `docs` random documents of [min_len, max_len] tokens below `vocab`, each with a prompt part that is not trained
// on, as a token dataset in dir.
void write_random_dataset(const std::string& dir, int64_t docs, int64_t min_len, int64_t max_len, int32_t vocab,
                          uint64_t seed);

// A complete config for a tiny run on a random dataset: run dir `out`, model config `model`.
TrainConfig tiny_train_config(const std::string& out, const std::string& model, const std::string& train_data,
                              int64_t steps);

using test::ProcessResult;
// Runs `build/bin/stepwise args` (tests/common/process.h) with one OpenMP thread and extra environment assignments
// (`env`, e.g. "A=1 B=2").
ProcessResult run_stepwise(const std::string& args, const std::string& env = "");
// The same under a launcher command (e.g. "mpirun -np 2 -x OMP_NUM_THREADS=1").
ProcessResult run_stepwise_under(const std::string& launcher, const std::string& args);

}  // namespace stepwise::train_test
