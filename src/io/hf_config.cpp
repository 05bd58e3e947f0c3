// Qwen3 config.json: parsing and validation (old and new Hugging Face styles), export in the new style that
// transformers 5 reads, the parameter count, and the presets compiled into the library.
#include "io/hf_config.h"

#include <algorithm>
#include <optional>

#include "core/status.h"
#include "io/json_file.h"
#include "io/model_presets.h"

namespace stepwise {
namespace {

using nlohmann::json;

std::string brief(const json& v) {
  std::string s = v.dump();
  return s.size() <= 60 ? s : s.substr(0, 57) + "...";
}

// The fields of one JSON object, read with errors naming the file and the field. A null field counts as absent,
// as transformers treats it.
struct Fields {
  const json& object;
  const std::string& source;
  std::string prefix;  // "rope_parameters." for a nested object, so that messages give the field's full name

  template <class... Args>
  [[noreturn]] void bad(const std::string& key, const Args&... args) const {
    invalid_argument(source, ": field '", prefix, key, "' ", args...);
  }
  const json* get(const std::string& key) const {
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }
  const json& required(const std::string& key) const {
    const json* v = get(key);
    if (!v) bad(key, "is missing");
    return *v;
  }
  int64_t positive_int(const std::string& key) const {
    const json& v = required(key);
    if (!v.is_number_integer()) bad(key, "must be an integer, got ", brief(v));
    if (v.get<int64_t>() <= 0) bad(key, "must be positive, got ", v.get<int64_t>());
    return v.get<int64_t>();
  }
  double positive_number(const std::string& key) const {
    const json& v = required(key);
    if (!v.is_number()) bad(key, "must be a number, got ", brief(v));
    if (!(v.get<double>() > 0)) bad(key, "must be positive, got ", brief(v));
    return v.get<double>();
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    const json* v = get(key);
    if (!v) return fallback;
    if (!v->is_string()) bad(key, "must be a string, got ", brief(*v));
    return v->get<std::string>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    const json* v = get(key);
    if (!v) return fallback;
    if (!v->is_boolean()) bad(key, "must be true or false, got ", brief(*v));
    return v->get<bool>();
  }
  // eos/bos: null, an id, or a list of ids (the first is taken); -1 when there is none.
  int64_t token_id(const std::string& key) const {
    const json* v = get(key);
    if (v && v->is_array()) v = v->empty() ? nullptr : &(*v)[0];
    if (!v) return -1;
    if (!v->is_number_integer() || v->get<int64_t>() < 0)
      bad(key, "must be null, a token id or a list of token ids, got ", brief(*get(key)));
    return v->get<int64_t>();
  }
};

// Features of the wider Qwen family that the model code does not implement: refuse rather than mis-run them.
void check_supported(const Fields& f) {
  if (const json* scaling = f.get("rope_scaling")) {
    if (!scaling->is_object()) f.bad("rope_scaling", "must be null or an object, got ", brief(*scaling));
    const Fields s{*scaling, f.source, "rope_scaling."};
    const std::string type = s.text("rope_type", s.text("type", "default"));
    if (type != "default") f.bad("rope_scaling", "asks for '", type, "' RoPE scaling, which stepwise does not support");
  }
  if (f.boolean("use_sliding_window", false))
    f.bad("use_sliding_window", "is true; sliding-window attention is not supported");
  if (const json* types = f.get("layer_types")) {
    if (!types->is_array()) f.bad("layer_types", "must be a list, got ", brief(*types));
    for (size_t i = 0; i < types->size(); ++i)
      if ((*types)[i] != "full_attention")
        f.bad("layer_types", "[", i, "] is ", brief((*types)[i]), "; only full_attention layers are supported");
  }
  if (f.text("hidden_act", "silu") != "silu") f.bad("hidden_act", "must be silu (the SwiGLU MLP of Qwen3)");
  if (f.boolean("attention_bias", false)) f.bad("attention_bias", "is true; Qwen3 attention has no biases");
}

// rope_theta: top level (old style) or rope_parameters.rope_theta (new style); both must agree when both exist.
double rope_theta(const Fields& f) {
  double theta = f.get("rope_theta") ? f.positive_number("rope_theta") : 0.0;
  if (const json* params = f.get("rope_parameters")) {
    if (!params->is_object()) f.bad("rope_parameters", "must be an object, got ", brief(*params));
    const Fields p{*params, f.source, "rope_parameters."};
    const std::string type = p.text("rope_type", "default");
    if (type != "default") p.bad("rope_type", "is '", type, "'; stepwise supports default RoPE only (no scaling)");
    if (p.get("rope_theta")) {
      const double nested = p.positive_number("rope_theta");
      if (theta > 0 && nested != theta)
        p.bad("rope_theta", "(", nested, ") disagrees with the top-level rope_theta (", theta, ")");
      theta = nested;
    }
  }
  if (!(theta > 0)) f.bad("rope_theta", "is missing (expected at the top level or as rope_parameters.rope_theta)");
  return theta;
}

// The storage dtype: `dtype` (new) or `torch_dtype` (old); float32 when neither is given, as in transformers.
std::string storage_dtype(const Fields& f) {
  std::string found;
  for (const char* key : {"torch_dtype", "dtype"}) {
    const std::string value = f.text(key, "");
    if (value.empty()) continue;
    if (value != "float32" && value != "bfloat16" && value != "float16")
      f.bad(key, "is '", value, "'; expected float32, bfloat16 or float16");
    if (!found.empty() && value != found) f.bad(key, "('", value, "') disagrees with torch_dtype ('", found, "')");
    found = value;
  }
  return found.empty() ? "float32" : found;
}

// The parameter count, counting a tied LM head once; nullopt when it overflows int64 (sizes no machine could hold,
// or a lying config: the sizes' products are computed all over the model code).
std::optional<int64_t> parameter_count(const Qwen3Config& c) {
  bool overflow = false;
  const auto mul = [&overflow](int64_t a, int64_t b) {
    int64_t r;
    overflow |= __builtin_mul_overflow(a, b, &r);
    return r;
  };
  const auto add = [&overflow](int64_t a, int64_t b) {
    int64_t r;
    overflow |= __builtin_add_overflow(a, b, &r);
    return r;
  };
  const int64_t q_out = mul(c.num_heads, c.head_dim), kv_out = mul(c.num_kv_heads, c.head_dim);
  const int64_t attention = add(mul(c.hidden_size, add(mul(2, q_out), mul(2, kv_out))),
                                mul(2, c.head_dim));                         // q,k,v,o + q/k RMSNorm
  const int64_t mlp = mul(mul(3, c.hidden_size), c.intermediate_size);      // gate, up, down
  const int64_t layer = add(add(attention, mlp), mul(2, c.hidden_size));    // + two RMSNorms
  const int64_t embeddings = mul(mul(c.vocab_size, c.hidden_size), c.tie_word_embeddings ? 1 : 2);
  const int64_t total = add(add(mul(c.num_layers, layer), c.hidden_size), embeddings);  // + the final RMSNorm
  if (overflow) return std::nullopt;
  return total;
}

}  // namespace

int64_t Qwen3Config::num_parameters() const {
  const std::optional<int64_t> n = parameter_count(*this);
  SW_CHECK(n, "the parameter count of this config overflows int64 (parse_qwen3_config refuses such configs)");
  return *n;
}

Qwen3Config parse_qwen3_config(const json& j, const std::string& source) {
  if (!j.is_object()) invalid_argument(source, ": a model config must be a JSON object, got a ", j.type_name());
  const Fields f{j, source, ""};
  const std::string model_type = f.text("model_type", "");
  if (model_type.empty()) f.bad("model_type", "is missing (expected \"qwen3\")");
  if (model_type != "qwen3") f.bad("model_type", "is '", model_type, "'; stepwise implements the qwen3 architecture");
  check_supported(f);

  Qwen3Config c;
  c.vocab_size = f.positive_int("vocab_size");
  c.hidden_size = f.positive_int("hidden_size");
  c.intermediate_size = f.positive_int("intermediate_size");
  c.num_layers = f.positive_int("num_hidden_layers");
  c.num_heads = f.positive_int("num_attention_heads");
  c.num_kv_heads = f.positive_int("num_key_value_heads");
  if (c.num_heads % c.num_kv_heads != 0)
    f.bad("num_attention_heads", "(", c.num_heads, ") must be a multiple of num_key_value_heads (", c.num_kv_heads,
          ")");
  if (f.get("head_dim")) {
    c.head_dim = f.positive_int("head_dim");
  } else {
    if (c.hidden_size % c.num_heads != 0)
      f.bad("head_dim", "is missing, and hidden_size (", c.hidden_size, ") is not a multiple of num_attention_heads (",
            c.num_heads, ") to derive it from");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) f.bad("head_dim", "must be even (RoPE rotates pairs of channels), got ", c.head_dim);
  c.max_position_embeddings = f.positive_int("max_position_embeddings");
  c.rope_theta = rope_theta(f);
  c.rms_norm_eps = f.positive_number("rms_norm_eps");
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);  // transformers' Qwen3Config default
  c.dtype = storage_dtype(f);
  c.eos_token_id = f.token_id("eos_token_id");
  c.bos_token_id = f.token_id("bos_token_id");
  if (!parameter_count(c))
    invalid_argument(source, ": the sizes (vocab_size ", c.vocab_size, ", hidden_size ", c.hidden_size,
                     ", intermediate_size ", c.intermediate_size, ", num_hidden_layers ", c.num_layers,
                     ", num_attention_heads ", c.num_heads, ", head_dim ", c.head_dim,
                     ") make more than 2^63 parameters; the config is damaged");
  return c;
}

Qwen3Config load_qwen3_config(const std::string& config_json_path) {
  return parse_qwen3_config(read_json_file(config_json_path, StatusCode::kInvalidArgument), config_json_path);
}

json qwen3_config_to_json(const Qwen3Config& c) {
  const auto token = [](int64_t id) { return id >= 0 ? json(id) : json(nullptr); };
  json j;
  j["architectures"] = json::array({"Qwen3ForCausalLM"});
  j["model_type"] = "qwen3";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["max_window_layers"] = c.num_layers;
  j["rms_norm_eps"] = c.rms_norm_eps;
  // Both spellings: transformers 5 reads rope_parameters, older readers (and llama.cpp's converter) rope_theta.
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", c.rope_theta}};
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["dtype"] = c.dtype;
  j["torch_dtype"] = c.dtype;
  j["eos_token_id"] = token(c.eos_token_id);
  j["bos_token_id"] = token(c.bos_token_id);
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["layer_types"] = json(std::vector<std::string>(static_cast<size_t>(c.num_layers), "full_attention"));
  j["sliding_window"] = nullptr;
  j["use_sliding_window"] = false;
  j["use_cache"] = true;
  return j;
}

Qwen3Config qwen3_preset(const std::string& name) {
  for (size_t i = 0; i < kNumModelPresets; ++i)
    if (name == kModelPresets[i].name)
      return parse_qwen3_config(json::parse(kModelPresets[i].json),
                                "preset " + name + " (configs/models/" + name + ".json)");
  std::string known;
  for (const std::string& n : qwen3_preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail(StatusCode::kNotFound, "unknown model preset '", name, "'; known presets: ", known);
}

std::vector<std::string> qwen3_preset_names() {
  std::vector<std::string> names;
  for (size_t i = 0; i < kNumModelPresets; ++i) names.push_back(kModelPresets[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace stepwise
