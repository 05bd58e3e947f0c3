// The Qwen3 architecture's hyper-parameters, read from a Hugging Face `config.json` in either style
// (old: top-level `rope_theta`, `torch_dtype`; new: `rope_parameters.rope_theta`, `dtype`), or taken from a
// preset bundled with stepwise (configs/models/*.json: Qwen3 0.6B ... 32B and tiny test models).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stepwise {

struct Qwen3Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // independent of hidden_size / num_heads (Qwen3-0.6B: 16 x 128 != 1024)
  int64_t max_position_embeddings = 0;
  double rope_theta = 0;
  double rms_norm_eps = 0;
  bool tie_word_embeddings = false;
  std::string dtype = "float32";  // the checkpoint's storage dtype: float32, bfloat16, float16
  int64_t eos_token_id = -1;       // -1 when the config has none
  int64_t bos_token_id = -1;

  int64_t num_parameters() const;  // counting a tied LM head once
};

// Parses and validates (every field present, positive, consistent: heads divisible by kv heads, head_dim even,
// model_type qwen3). `source` names the file in errors.
Qwen3Config parse_qwen3_config(const nlohmann::json& j, const std::string& source);
Qwen3Config load_qwen3_config(const std::string& config_json_path);
// The config.json stepwise writes when exporting (new style, readable by transformers).
nlohmann::json qwen3_config_to_json(const Qwen3Config& c);

// Bundled presets by name ("qwen3-0.6b", ..., "qwen3-32b", "qwen3-tiny"); unknown names list the known ones.
Qwen3Config qwen3_preset(const std::string& name);
std::vector<std::string> qwen3_preset_names();

}  // namespace stepwise
