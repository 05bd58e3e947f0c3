// Synthetic Hugging Face models written shard by shard.
#include "convert/synthetic_model.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "model/qwen3_partition.h"

namespace stepwise {

Qwen3Config synthetic_qwen3_config(int64_t bytes) {
  Qwen3Config c;
  c.vocab_size = 65536;
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.num_heads = 8;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.max_position_embeddings = 4096;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = false;
  c.num_layers = 1;
  while (c.num_parameters() * 4 < bytes) ++c.num_layers;
  return c;
}

int64_t write_synthetic_hf_model(const std::string& dir, const Qwen3Config& config, int64_t shard_bytes) {
  std::filesystem::create_directories(dir);
  std::vector<std::vector<Qwen3TensorSpec>> files(1);
  int64_t in_file = 0, total = 0;
  for (const Qwen3TensorSpec& s : qwen3_tensor_specs(config)) {
    const int64_t bytes = shape_numel(s.full_shape) * 4;
    if (in_file > 0 && in_file + bytes > shard_bytes) {
      files.emplace_back();
      in_file = 0;
    }
    files.back().push_back(s);
    in_file += bytes;
    total += bytes;
  }
  nlohmann::ordered_json map = nlohmann::ordered_json::object();
  std::vector<float> chunk(1 << 20);
  uint64_t counter = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, files.size());
    std::vector<StHeaderEntry> entries;
    for (const Qwen3TensorSpec& s : files[i]) {
      entries.push_back({s.name, StDType::kF32, s.full_shape});
      map[s.name] = name;
    }
    const std::string path = dir + "/" + name;
    write_file_atomic(path, [&](std::FILE* f) {
      const std::string header = safetensors_header(path, entries, {{"format", "pt"}});
      std::fwrite(header.data(), 1, header.size(), f);
      for (const Qwen3TensorSpec& s : files[i])
        for (int64_t left = shape_numel(s.full_shape); left > 0;) {
          const size_t n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(chunk.size())));
          for (size_t k = 0; k < n; ++k)  // a multiplicative hash of the element's index, scaled to +-0.01
            chunk[k] = static_cast<float>(static_cast<double>(((++counter) * 2654435761u) >> 8 & 0xffff) / 65536.0 - 0.5) *
                       0.02f;
          std::fwrite(chunk.data(), sizeof(float), n, f);
          left -= static_cast<int64_t>(n);
        }
    });
  }
  const nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
  write_file_atomic(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
  write_file_atomic(dir + "/config.json", qwen3_config_to_json(config).dump(2) + "\n");
  return total;
}

}  // namespace stepwise
