// Qwen3 config.json: both fixture configs (new style), the real Qwen3-0.6B config (old style), every validation
// error naming the file and the field, export and re-import, and the bundled presets with their parameter counts.
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include <functional>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace stepwise {
namespace {

using namespace io_test;
using nlohmann::json;

// Hugging Face Qwen/Qwen3-0.6B config.json as published (old style: top-level rope_theta, torch_dtype).
const char* kQwen3_0_6B = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

void expect_same(const Qwen3Config& a, const Qwen3Config& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
}

int64_t stored_parameters(const std::string& dir) {
  const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir);
  int64_t n = 0;
  for (const std::string& name : ckpt.names()) n += shape_numel(ckpt.shape(name));
  return n;
}

TEST(HfConfig, FixtureATiedBf16NewStyle) {
  const Qwen3Config c = load_qwen3_config(kTinyA + "/config.json");
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 160);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 32);  // not hidden / heads = 16
  EXPECT_EQ(c.max_position_embeddings, 256);
  EXPECT_EQ(c.rope_theta, 1000000.0);  // from rope_parameters
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_EQ(c.eos_token_id, -1);  // null
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.num_parameters(), stored_parameters(kTinyA));
}

TEST(HfConfig, FixtureBUntiedF32NewStyle) {
  const Qwen3Config c = load_qwen3_config(kTinyB + "/config.json");
  EXPECT_EQ(c.vocab_size, 517);
  EXPECT_EQ(c.hidden_size, 48);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 6);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 16);  // not hidden / heads = 8
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, "float32");
  EXPECT_EQ(c.num_parameters(), stored_parameters(kTinyB));
  EXPECT_EQ(c.num_parameters(), 146832);  // the index's metadata.total_parameters
}

TEST(HfConfig, RealQwen3OldStyle) {
  ScratchDir dir;
  write_bytes(dir.file("config.json"), kQwen3_0_6B);
  const Qwen3Config c = load_qwen3_config(dir.file("config.json"));
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.num_heads, 16);
  EXPECT_EQ(c.head_dim, 128);  // 16 x 128 != 1024
  EXPECT_EQ(c.rope_theta, 1000000.0);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_id, 151645);
  EXPECT_EQ(c.bos_token_id, 151643);
  expect_same(c, qwen3_preset("qwen3-0.6b"));
}

TEST(HfConfig, OptionalFieldsAndTheirFallbacks) {
  json j = json::parse(kQwen3_0_6B);
  j["eos_token_id"] = {151645, 151643};  // a list: the first is the end of a turn
  j.erase("head_dim");                    // falls back to hidden / heads
  j.erase("torch_dtype");                 // float32, as transformers assumes
  j.erase("tie_word_embeddings");         // false, transformers' default
  j["bos_token_id"] = json::array();
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000}};  // agrees with rope_theta
  j["dtype"] = "float16";
  const Qwen3Config c = parse_qwen3_config(j, "cfg.json");
  EXPECT_EQ(c.eos_token_id, 151645);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.dtype, "float16");
  EXPECT_FALSE(c.tie_word_embeddings);
  j.erase("dtype");
  EXPECT_EQ(parse_qwen3_config(j, "cfg.json").dtype, "float32");
}

// Each case breaks one field of the real config; the error names the file and that field.
struct BadConfig {
  const char* what;
  std::function<void(json&)> mutate;
  std::vector<std::string> message;
};

TEST(HfConfig, EveryValidationErrorNamesFileAndField) {
  const std::vector<BadConfig> cases = {
      {"missing field", [](json& j) { j.erase("hidden_size"); }, {"'hidden_size'", "missing"}},
      {"null required field", [](json& j) { j["vocab_size"] = nullptr; }, {"'vocab_size'", "missing"}},
      {"string for int", [](json& j) { j["hidden_size"] = "1024"; }, {"'hidden_size'", "integer", "\"1024\""}},
      {"fraction for int", [](json& j) { j["num_hidden_layers"] = 27.5; }, {"'num_hidden_layers'", "integer"}},
      {"zero", [](json& j) { j["intermediate_size"] = 0; }, {"'intermediate_size'", "positive", "0"}},
      {"negative", [](json& j) { j["num_key_value_heads"] = -8; }, {"'num_key_value_heads'", "positive", "-8"}},
      {"negative eps", [](json& j) { j["rms_norm_eps"] = -1e-6; }, {"'rms_norm_eps'", "positive"}},
      {"string eps", [](json& j) { j["rms_norm_eps"] = "1e-6"; }, {"'rms_norm_eps'", "number"}},
      {"heads not a multiple of kv heads", [](json& j) { j["num_key_value_heads"] = 6; },
       {"'num_attention_heads'", "(16)", "multiple of num_key_value_heads (6)"}},
      {"odd head_dim", [](json& j) { j["head_dim"] = 127; }, {"'head_dim'", "even", "127"}},
      {"underivable head_dim", [](json& j) { j.erase("head_dim"); j["hidden_size"] = 1000; },
       {"'head_dim'", "hidden_size (1000)", "num_attention_heads (16)"}},
      {"other architecture", [](json& j) { j["model_type"] = "llama"; }, {"'model_type'", "'llama'", "qwen3"}},
      {"no model_type", [](json& j) { j.erase("model_type"); }, {"'model_type'", "missing"}},
      {"rope scaling", [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; },
       {"'rope_scaling'", "'yarn'", "not support"}},
      {"legacy rope scaling key", [](json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; },
       {"'rope_scaling'", "'linear'"}},
      {"new-style rope scaling", [](json& j) { j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}}; },
       {"'rope_parameters.rope_type'", "'yarn'"}},
      {"sliding window", [](json& j) { j["use_sliding_window"] = true; }, {"'use_sliding_window'", "not supported"}},
      {"sliding layer", [](json& j) {
         j["layer_types"] = std::vector<std::string>(27, "full_attention");
         j["layer_types"].push_back("sliding_attention");
       },
       {"'layer_types'", "[27]", "sliding_attention"}},
      {"missing rope_theta", [](json& j) { j.erase("rope_theta"); }, {"'rope_theta'", "missing", "rope_parameters"}},
      {"disagreeing rope_theta", [](json& j) { j["rope_parameters"] = {{"rope_theta", 10000.0}}; },
       {"'rope_parameters.rope_theta'", "10000", "1e+06"}},
      {"unknown dtype", [](json& j) { j["torch_dtype"] = "int8"; }, {"'torch_dtype'", "'int8'"}},
      {"disagreeing dtype", [](json& j) { j["dtype"] = "float32"; }, {"'dtype'", "float32", "bfloat16"}},
      {"bad eos", [](json& j) { j["eos_token_id"] = "</s>"; }, {"'eos_token_id'", "\"</s>\""}},
      {"bad tie", [](json& j) { j["tie_word_embeddings"] = 1; }, {"'tie_word_embeddings'", "true or false"}},
      {"attention bias", [](json& j) { j["attention_bias"] = true; }, {"'attention_bias'"}},
      {"activation", [](json& j) { j["hidden_act"] = "gelu"; }, {"'hidden_act'", "silu"}},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.what);
    json j = json::parse(kQwen3_0_6B);
    ASSERT_NO_THROW(parse_qwen3_config(j, "/models/q/config.json"));
    c.mutate(j);
    std::vector<std::string> message = c.message;
    message.push_back("/models/q/config.json: field ");
    expect_status_error([&] { parse_qwen3_config(j, "/models/q/config.json"); }, StatusCode::kInvalidArgument, message);
  }
}

// Found by fuzz_hf_config (UBSan: signed overflow in num_parameters): sizes whose products overflow int64 are
// refused when parsed, naming them; large sizes that fit still count exactly.
TEST(HfConfig, SizesWhoseParameterCountOverflowsAreRefused) {
  json big = json::parse(kQwen3_0_6B);
  big["vocab_size"] = int64_t{1} << 40;  // tied embeddings of 2^40 x 1024 = 2^50, plus the released 0.6B's layers
  EXPECT_EQ(parse_qwen3_config(big, "/models/q/config.json").num_parameters(),
            596049920 - 151936 * 1024 + (int64_t{1} << 50));
  for (const auto& [field, value] : std::vector<std::pair<std::string, int64_t>>{
           {"vocab_size", INT64_MAX}, {"intermediate_size", int64_t{1} << 52}, {"num_hidden_layers", INT64_MAX / 2}}) {
    SCOPED_TRACE(field);
    json j = json::parse(kQwen3_0_6B);
    j[field] = value;
    EXPECT_STATUS_ERROR(parse_qwen3_config(j, "/models/q/config.json"), StatusCode::kInvalidArgument,
                        {"/models/q/config.json", "vocab_size", "hidden_size", std::to_string(value), "2^63"});
  }
}

TEST(HfConfig, FileErrors) {
  ScratchDir dir;
  EXPECT_STATUS_ERROR(load_qwen3_config(dir.file("config.json")), StatusCode::kNotFound, {dir.file("config.json")});
  write_bytes(dir.file("config.json"), "{\"model_type\": \"qwen3\",");
  EXPECT_STATUS_ERROR(load_qwen3_config(dir.file("config.json")), StatusCode::kInvalidArgument,
                      {dir.file("config.json"), "not valid JSON"});
  write_bytes(dir.file("config.json"), "[1]");
  EXPECT_STATUS_ERROR(load_qwen3_config(dir.file("config.json")), StatusCode::kInvalidArgument,
                      {dir.file("config.json"), "JSON object"});
}

TEST(HfConfig, ExportIsNewStyleAndReadsBack) {
  const Qwen3Config c = load_qwen3_config(kTinyA + "/config.json");
  const json j = qwen3_config_to_json(c);
  EXPECT_EQ(j["architectures"], json::array({"Qwen3ForCausalLM"}));
  EXPECT_EQ(j["model_type"], "qwen3");
  EXPECT_EQ(j["rope_parameters"]["rope_theta"], 1000000.0);
  EXPECT_EQ(j["rope_parameters"]["rope_type"], "default");
  EXPECT_EQ(j["rope_theta"], 1000000.0);
  EXPECT_EQ(j["dtype"], "bfloat16");
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  EXPECT_EQ(j["head_dim"], 32);
  EXPECT_EQ(j["num_key_value_heads"], 2);
  EXPECT_TRUE(j["eos_token_id"].is_null());
  EXPECT_EQ(j["layer_types"].size(), 2u);
  expect_same(parse_qwen3_config(j, "exported"), c);
  // Every key the fixture (written by transformers 5.17) has, the export has too.
  const json fixture = json::parse(read_bytes(kTinyA + "/config.json"));
  for (const auto& item : fixture.items())
    if (item.key() != "transformers_version" && item.key() != "pad_token_id") {
      EXPECT_TRUE(j.contains(item.key())) << item.key();
    }
  for (const std::string& name : qwen3_preset_names()) {
    SCOPED_TRACE(name);
    const Qwen3Config p = qwen3_preset(name);
    expect_same(parse_qwen3_config(qwen3_config_to_json(p), "exported"), p);
  }
}

// Parameter counts: exact totals of the released checkpoints (as the Keras Hub presets, which load the real
// weights, report them) and the model cards' rounded totals / non-embedding counts, in billions.
struct PresetSize {
  const char* name;
  int64_t exact;
  double total_b, non_embedding_b;
  bool tied;
};

TEST(Presets, ParameterCountsMatchTheReleasedModels) {
  const std::vector<PresetSize> sizes = {
      {"qwen3-0.6b", 596049920, 0.6, 0.44, true},     {"qwen3-1.7b", 1720574976, 1.7, 1.4, true},
      {"qwen3-4b", 4022468096, 4.0, 3.6, true},       {"qwen3-8b", 8190735360, 8.2, 6.95, false},
      {"qwen3-14b", 14768307200, 14.8, 13.2, false}, {"qwen3-32b", 32762123264, 32.8, 31.2, false},
  };
  for (const PresetSize& s : sizes) {
    SCOPED_TRACE(s.name);
    const Qwen3Config c = qwen3_preset(s.name);
    EXPECT_EQ(c.num_parameters(), s.exact);
    const int64_t embeddings = c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
    EXPECT_NEAR(c.num_parameters() / 1e9, s.total_b, 0.05);
    EXPECT_NEAR((c.num_parameters() - embeddings) / 1e9, s.non_embedding_b, 0.05);
    EXPECT_EQ(c.tie_word_embeddings, s.tied);
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.max_position_embeddings, 40960);
    EXPECT_EQ(c.rope_theta, 1000000.0);
    EXPECT_EQ(c.rms_norm_eps, 1e-6);
    EXPECT_EQ(c.eos_token_id, 151645);
    EXPECT_EQ(c.bos_token_id, 151643);
    EXPECT_EQ(c.dtype, "bfloat16");
  }
  const Qwen3Config tiny = qwen3_preset("qwen3-tiny");
  EXPECT_EQ(tiny.num_parameters(), 3279360);
  EXPECT_EQ(tiny.head_dim, 32);
  EXPECT_TRUE(tiny.tie_word_embeddings);
}

TEST(Presets, EmbeddedPresetsEqualTheirSourceFiles) {
  const std::vector<std::string> expected = {"qwen3-0.6b", "qwen3-1.7b", "qwen3-14b", "qwen3-32b",
                                             "qwen3-4b",   "qwen3-8b",   "qwen3-tiny"};
  EXPECT_EQ(qwen3_preset_names(), expected);
  for (const std::string& name : expected) {
    SCOPED_TRACE(name);
    expect_same(qwen3_preset(name), load_qwen3_config(std::string(STEPWISE_CONFIGS_DIR) + "/models/" + name + ".json"));
  }
  EXPECT_STATUS_ERROR(qwen3_preset("qwen3-7b"), StatusCode::kNotFound, {"'qwen3-7b'", "qwen3-0.6b", "qwen3-tiny"});
}

}  // namespace
}  // namespace stepwise
