// Tokenizer: a Hugging Face tokenizer.json of the byte-level BPE kind (Qwen2/2.5/3, GPT-2, Llama 3) that
// gives exactly Hugging Face's ids: added tokens split out first, NFC, the Split regex, byte-level BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/regex_split.h"

namespace stepwise {

struct TokenizerSpec;

// The bytes [begin, end) of the encoded text that a token stands for. Where NFC changed the text, a token
// that covers only part of a changed stretch gets the whole stretch.
struct TokenOffsets {
  size_t begin, end;
};

// Immutable once loaded: every const method may be called from many threads at once.
class Tokenizer {
 public:
  // Reads dir/tokenizer.json and, when present, dir/tokenizer_config.json (eos, pad, bos, the specials and
  // the chat template). Errors name the file and the field.
  static Tokenizer load(const std::string& dir);
  explicit Tokenizer(const TokenizerSpec& spec);

  // Hugging Face's encode(text, add_special_tokens=False): added tokens in the text become their ids, and
  // no BOS/EOS is added. `text` must be valid UTF-8 (else INVALID_ARGUMENT naming the byte offset).
  std::vector<int32_t> encode(std::string_view text) const;
  // Appends to *ids and, when `offsets` is not null, each token's bytes in `text`.
  void encode(std::string_view text, std::vector<int32_t>* ids, std::vector<TokenOffsets>* offsets) const;
  // encode() of each text on `num_threads` threads (0: all hardware threads).
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, int num_threads = 0) const;

  // Hugging Face's decode(ids, skip_special_tokens, clean_up_tokenization_spaces=False): the tokens' bytes,
  // with each invalid UTF-8 part replaced by U+FFFD. An id outside the vocabulary is INVALID_ARGUMENT.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }  // 1 + the largest id
  // A token of this vocabulary (a model's embedding may be padded past it: Qwen3's 151,936 rows for 151,669 ids).
  bool has_id(int32_t id) const { return id >= 0 && id < vocab_size() && known_[static_cast<size_t>(id)]; }
  std::optional<int32_t> token_to_id(std::string_view token) const;            // spelling as in tokenizer.json
  const std::string& id_to_token(int32_t id) const;                            // INVALID_ARGUMENT if unknown
  const std::string& token_bytes(int32_t id) const;                            // the bytes decode() writes
  bool is_special(int32_t id) const;  // added with "special": true, or named special in tokenizer_config.json

  std::optional<int32_t> eos_id() const { return eos_id_; }
  std::optional<int32_t> pad_id() const { return pad_id_; }
  std::optional<int32_t> bos_id() const { return bos_id_; }
  const std::string& chat_template() const { return chat_template_; }  // Jinja source; empty if none
  const std::string& source() const { return json_path_; }             // the tokenizer.json read

 private:
  struct OffsetMap;  // normalized offsets -> offsets in the caller's text

  void check_id(int32_t id) const;
  // Text between raw added tokens: normalize, split on normalized added tokens, pre-tokenize, BPE.
  void encode_segment(std::string_view segment, size_t base, std::vector<int32_t>* ids,
                      std::vector<TokenOffsets>* offsets) const;
  // Normalized text without added tokens, starting at normalized offset `at`: pre-tokenize and BPE.
  void encode_words(std::string_view text, size_t at, const OffsetMap& map, std::vector<int32_t>* ids,
                    std::vector<TokenOffsets>* offsets) const;

  std::string json_path_;
  std::unique_ptr<ByteLevelBpe> bpe_;
  std::vector<RegexSplitter> splits_;
  bool nfc_ = false;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::vector<std::string> tokens_;       // id -> spelling ("" for an unused id)
  std::vector<std::string> token_bytes_;  // id -> bytes
  std::vector<uint8_t> known_, special_;  // id -> flags
  std::unordered_map<std::string, int32_t> ids_;
  std::optional<int32_t> eos_id_, pad_id_, bos_id_;
  std::string chat_template_;
};

}  // namespace stepwise
