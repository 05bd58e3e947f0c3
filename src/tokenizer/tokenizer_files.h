// Reading a Hugging Face tokenizer.json (+ tokenizer_config.json) into plain data. Every error names the file
// and the field, and says what stepwise reads: byte-level BPE with an optional NFC normalizer and Split /
// ByteLevel pre-tokenizers (Qwen2/2.5/3, GPT-2, Llama 3).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stepwise {

struct AddedTokenSpec {
  int32_t id;
  std::string content;
  bool special;
  bool normalized;  // matched in the normalized text rather than the raw text
};

struct SplitSpec {
  std::string pattern;  // an Oniguruma regex, or a literal string when `literal`
  bool literal;
  std::string field;  // e.g. "pre_tokenizer.pretokenizers[0].pattern", for errors
};

struct TokenizerSpec {
  std::string json_path;                           // tokenizer.json
  std::unordered_map<std::string, int32_t> vocab;  // model.vocab (byte-level spellings)
  std::vector<std::pair<std::string, std::string>> merges;
  bool ignore_merges = false;
  bool nfc = false;               // normalizer is NFC (else none)
  std::vector<SplitSpec> splits;  // applied in order, each to the pieces of the one before
  std::vector<AddedTokenSpec> added_tokens;

  // tokenizer_config.json; empty when the file or the field is absent.
  std::string config_path;
  std::string eos_token, pad_token, bos_token;
  std::vector<std::string> additional_special_tokens;
  std::string chat_template;  // the Jinja source (or chat_template.jinja beside it)
};

// `config_path` may name a file that does not exist; tokenizer.json must exist.
TokenizerSpec read_tokenizer_files(const std::string& json_path, const std::string& config_path);

}  // namespace stepwise
