// Parsing and validating tokenizer.json and tokenizer_config.json (nlohmann::json).
#include "tokenizer/tokenizer_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "io/json_file.h"

namespace stepwise {
namespace {

using nlohmann::json;

// The GPT-2 split, used by a ByteLevel pre-tokenizer with use_regex (tokenizers' byte_level.rs).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

bool read_file(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

// Field access that names the file and the dotted path on every error.
struct Reader {
  const std::string& file;

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    invalid_argument(file, ": field ", field, " ", what);
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& what) const {
    fail(StatusCode::kUnimplemented, file, ": field ", field, " ", what,
         "; stepwise reads byte-level BPE tokenizers (Qwen2/2.5/3, GPT-2, Llama 3)");
  }
  const json& get(const json& obj, const std::string& parent, const char* key) const {
    const std::string field = parent.empty() ? key : parent + "." + key;
    if (!obj.is_object()) bad(parent, "must be an object");
    const auto it = obj.find(key);
    if (it == obj.end()) bad(field, "is missing");
    return *it;
  }
  std::string string(const json& obj, const std::string& parent, const char* key) const {
    const json& v = get(obj, parent, key);
    if (!v.is_string()) bad(parent + "." + key, "must be a string");
    return v.get<std::string>();
  }
  // A boolean that may be absent (then `fallback`).
  bool flag(const json& obj, const std::string& parent, const char* key, bool fallback) const {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) bad(parent + "." + key, "must be true or false");
    return it->get<bool>();
  }
};

void read_model(const Reader& r, const json& root, TokenizerSpec* spec) {
  const json& model = r.get(root, "", "model");
  if (const auto type = model.find("type"); type == model.end() || *type != "BPE")
    r.unsupported("model.type",
                  "is " + (type == model.end() ? std::string("missing") : type->dump()) + ", not \"BPE\"");
  if (r.flag(model, "model", "byte_fallback", false)) r.unsupported("model.byte_fallback", "is true");
  if (const auto d = model.find("dropout"); d != model.end() && !d->is_null())
    r.unsupported("model.dropout", "is set (BPE dropout is for training tokenizers)");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const auto a = model.find(affix); a != model.end() && !a->is_null() && *a != "")
      r.unsupported(std::string("model.") + affix, "is " + a->dump());
  spec->ignore_merges = r.flag(model, "model", "ignore_merges", false);

  const json& vocab = r.get(model, "model", "vocab");
  if (!vocab.is_object()) r.bad("model.vocab", "must be an object mapping token to id");
  spec->vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX)
      r.bad("model.vocab[\"" + token + "\"]", "must be a non-negative 32-bit id");
    spec->vocab.emplace(token, id.get<int32_t>());
  }

  const json& merges = r.get(model, "model", "merges");
  if (!merges.is_array()) r.bad("model.merges", "must be an array");
  spec->merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {  // the older "left right" form
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        r.bad("model.merges[" + std::to_string(i) + "]", "must be \"left right\" (one space), got \"" + s + "\"");
      spec->merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      r.bad("model.merges[" + std::to_string(i) + "]", "must be \"left right\" or [\"left\", \"right\"]");
    }
  }
}

void read_normalizer(const Reader& r, const json& n, const std::string& field, TokenizerSpec* spec) {
  if (n.is_null()) return;
  const std::string type = r.string(n, field, "type");
  if (type == "NFC") {
    spec->nfc = true;
  } else if (type == "Sequence") {
    const json& list = r.get(n, field, "normalizers");
    if (!list.is_array()) r.bad(field + ".normalizers", "must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      read_normalizer(r, list[i], field + ".normalizers[" + std::to_string(i) + "]", spec);
  } else {
    r.unsupported(field + ".type", "is \"" + type + "\" (only NFC or none)");
  }
}

// Returns how many ByteLevel pre-tokenizers `p` holds (a byte-level tokenizer has exactly one).
int read_pre_tokenizer(const Reader& r, const json& p, const std::string& field, TokenizerSpec* spec) {
  const std::string type = r.string(p, field, "type");
  if (type == "Sequence") {
    const json& list = r.get(p, field, "pretokenizers");
    if (!list.is_array()) r.bad(field + ".pretokenizers", "must be an array");
    int byte_level = 0;
    for (size_t i = 0; i < list.size(); ++i)
      byte_level += read_pre_tokenizer(r, list[i], field + ".pretokenizers[" + std::to_string(i) + "]", spec);
    return byte_level;
  }
  if (type == "ByteLevel") {
    if (r.flag(p, field, "add_prefix_space", false)) r.unsupported(field + ".add_prefix_space", "is true");
    if (r.flag(p, field, "use_regex", true)) spec->splits.push_back({kGpt2Pattern, false, field + ".use_regex"});
    return 1;
  }
  if (type == "Split") {
    const std::string behavior = r.string(p, field, "behavior");
    if (behavior != "Isolated") r.unsupported(field + ".behavior", "is \"" + behavior + "\" (only \"Isolated\")");
    if (r.flag(p, field, "invert", false)) r.unsupported(field + ".invert", "is true");
    const json& pattern = r.get(p, field, "pattern");
    const bool literal = pattern.is_object() && pattern.contains("String");
    const char* key = literal ? "String" : "Regex";
    spec->splits.push_back({r.string(pattern, field + ".pattern", key), literal, field + ".pattern." + key});
    return 0;
  }
  r.unsupported(field + ".type", "is \"" + type + "\" (only Split, ByteLevel or a Sequence of them)");
}

void read_added_tokens(const Reader& r, const json& root, TokenizerSpec* spec) {
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) r.bad("added_tokens", "must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const json& id = r.get(t, field, "id");
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX)
      r.bad(field + ".id", "must be a non-negative 32-bit id");
    for (const char* option : {"lstrip", "rstrip", "single_word"})
      if (r.flag(t, field, option, false)) r.unsupported(field + "." + option, "is true");
    spec->added_tokens.push_back({id.get<int32_t>(), r.string(t, field, "content"), r.flag(t, field, "special", false),
                                  r.flag(t, field, "normalized", false)});
  }
}

// "eos_token": "<|im_end|>" or {"content": "<|im_end|>", ...} or null.
std::string token_field(const Reader& r, const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return r.string(*it, key, "content");
  r.bad(key, "must be a token string, an object with \"content\", or null");
}

void read_config(const std::string& path, TokenizerSpec* spec) {
  if (!std::filesystem::exists(path)) return;  // optional
  spec->config_path = path;
  const json config = read_json_file(path, StatusCode::kInvalidArgument);
  const Reader r{path};
  if (!config.is_object()) r.bad("(top level)", "must be an object");
  spec->eos_token = token_field(r, config, "eos_token");
  spec->pad_token = token_field(r, config, "pad_token");
  spec->bos_token = token_field(r, config, "bos_token");
  if (const auto it = config.find("additional_special_tokens"); it != config.end() && !it->is_null()) {
    if (!it->is_array()) r.bad("additional_special_tokens", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      spec->additional_special_tokens.push_back(
          t.is_string() ? t.get<std::string>()
                        : r.string(t, "additional_special_tokens[" + std::to_string(i) + "]", "content"));
    }
  }
  if (const auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
    if (!it->is_string()) r.bad("chat_template", "must be a string (named template lists are not supported)");
    spec->chat_template = it->get<std::string>();
  } else {
    const size_t slash = path.find_last_of('/');
    read_file((slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "chat_template.jinja",
              &spec->chat_template);
  }
}

}  // namespace

TokenizerSpec read_tokenizer_files(const std::string& json_path, const std::string& config_path) {
  TokenizerSpec spec;
  spec.json_path = json_path;
  json root;
  try {
    root = read_json_file(json_path, StatusCode::kInvalidArgument);
  } catch (const StatusError& e) {
    if (e.code() != StatusCode::kNotFound) throw;
    fail(StatusCode::kNotFound, e.what(),
         "; --tokenizer must name a Hugging Face tokenizer directory holding tokenizer.json");
  }
  const Reader r{json_path};
  if (!root.is_object()) r.bad("(top level)", "must be an object");
  read_model(r, root, &spec);
  read_normalizer(r, root.contains("normalizer") ? root["normalizer"] : json(), "normalizer", &spec);
  const json& pre = r.get(root, "", "pre_tokenizer");
  if (pre.is_null() || read_pre_tokenizer(r, pre, "pre_tokenizer", &spec) != 1)
    r.unsupported("pre_tokenizer", "has no ByteLevel step (or more than one)");
  const json& decoder = r.get(root, "", "decoder");
  if (decoder.is_null() || r.string(decoder, "decoder", "type") != "ByteLevel")
    r.unsupported("decoder", "is not {\"type\": \"ByteLevel\"}");
  read_added_tokens(r, root, &spec);
  read_config(config_path, &spec);
  return spec;
}

}  // namespace stepwise
