// Fuzz target: a Hugging Face config.json through parse_qwen3_config. An accepted config must survive the export
// round trip (qwen3_config_to_json, parsed again, gives the same config) and have a parameter count.
#include "fuzz_util.h"
#include "io/hf_config.h"

using namespace stepwise;

namespace {

bool same(const Qwen3Config& a, const Qwen3Config& b) {
  return a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size &&
         a.intermediate_size == b.intermediate_size && a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
         a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
         a.max_position_embeddings == b.max_position_embeddings && a.rope_theta == b.rope_theta &&
         a.rms_norm_eps == b.rms_norm_eps && a.tie_word_embeddings == b.tie_word_embeddings && a.dtype == b.dtype &&
         a.eos_token_id == b.eos_token_id && a.bos_token_id == b.bos_token_id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // read_json_file's parse, without the file: text that is not JSON never reaches the config parser.
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  fuzz::refusing_with_status_errors([&] {
    const Qwen3Config config = parse_qwen3_config(j, "config.json");
    if (config.num_parameters() <= 0) fuzz::finding("accepted config with ", config.num_parameters(), " parameters");
    const Qwen3Config again = parse_qwen3_config(qwen3_config_to_json(config), "exported config.json");
    if (!same(config, again)) fuzz::finding("the exported config.json reads back differently");
  });
  return 0;
}
