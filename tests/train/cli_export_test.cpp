// `stepwise export --dtype` through the binary: a trained checkpoint exported as bfloat16 and as float32. The
// written model.safetensors is read here byte by byte (its own header parser, not stepwise's reader): every tensor
// has the asked dtype and the checkpoint's shape, and its values are the checkpoint's rounded to that dtype
// (round to nearest even, rounded here independently).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "io/checkpoint_dir.h"
#include "model/hf_export.h"
#include "train/loop.h"
#include "train_test_util.h"

namespace stepwise::train_test {
namespace {

// The bfloat16 nearest to x, ties to even (as PyTorch's .to(torch.bfloat16)); x is finite here.
uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

struct StoredTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

std::map<std::string, StoredTensor> read_safetensors_file(const std::string& path) {
  const std::string file = read_text(path);
  uint64_t header_size = 0;
  std::memcpy(&header_size, file.data(), 8);
  const auto header = nlohmann::json::parse(file.substr(8, header_size));
  std::map<std::string, StoredTensor> out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const auto begin = entry["data_offsets"][0].get<size_t>(), end = entry["data_offsets"][1].get<size_t>();
    out[name] = {entry["dtype"], entry["shape"].get<std::vector<int64_t>>(),
                 file.substr(8 + header_size + begin, end - begin)};
  }
  return out;
}

TEST(CliExport, DtypeRoundsTheCheckpointsWeights) {
  const std::string dir = fresh_test_dir("cli_export");
  write_random_dataset(dir + "/data", 30, 8, 30, 64, 3);
  TrainConfig config =
      tiny_train_config(dir + "/run", write_model_config(dir + "/model", tiny_config()), dir + "/data", 2);
  RunOptions quiet;
  quiet.log = nullptr;
  run_sft(config, quiet);
  const CheckpointWeights checkpoint = read_checkpoint_weights(resolve_checkpoint_dir(dir + "/run"));
  int64_t inexact = 0;  // values bfloat16 cannot hold: the check below means something only if there are some
  for (const auto& [name, tensor] : checkpoint.tensors) {
    for (const float v : tensor.to_f32_vector()) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      inexact += (u & 0xFFFF) != 0;
    }
  }
  ASSERT_GT(inexact, 0) << "the checkpoint's weights are all bfloat16 values already";

  for (const auto& [flag, st_dtype] : {std::pair{"bfloat16", "BF16"}, std::pair{"float32", "F32"}}) {
    SCOPED_TRACE(flag);
    const std::string out = dir + "/hf-" + flag;
    const ProcessResult r = run_stepwise("export --checkpoint " + dir + "/run --output " + out + " --dtype " + flag);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const std::map<std::string, StoredTensor> written = read_safetensors_file(out + "/model.safetensors");
    size_t expected_tensors = 0;
    for (const auto& [name, tensor] : checkpoint.tensors) {
      if (name == "lm_head.weight" && checkpoint.config.tie_word_embeddings) continue;  // written once, as HF does
      ++expected_tensors;
      ASSERT_TRUE(written.count(name)) << name;
      const StoredTensor& st = written.at(name);
      EXPECT_EQ(st.dtype, st_dtype) << name;
      EXPECT_EQ(st.shape, tensor.shape()) << name;
      const std::vector<float> values = tensor.to_f32_vector();
      const size_t element = st.dtype == "BF16" ? 2 : 4;
      ASSERT_EQ(st.bytes.size(), values.size() * element) << name;
      int64_t differ = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        if (element == 2) {
          uint16_t got;
          std::memcpy(&got, st.bytes.data() + 2 * i, 2);
          differ += got != bf16_bits(values[i]);
        } else {
          differ += std::memcmp(st.bytes.data() + 4 * i, &values[i], 4) != 0;
        }
      }
      EXPECT_EQ(differ, 0) << name << ": " << differ << " of " << values.size() << " values are not the checkpoint's "
                           << "rounded to " << flag;
    }
    EXPECT_EQ(written.size(), expected_tensors);
  }
}

}  // namespace
}  // namespace stepwise::train_test
