// IncrementalDecoder: token bytes accumulate until they end on a character boundary.
#include "tokenizer/incremental_decoder.h"

#include "tokenizer/utf8.h"

namespace stepwise {

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::push(int32_t id) {
  const std::string& bytes = tokenizer_.token_bytes(id);  // checks the id
  if (skip_special_tokens_ && tokenizer_.is_special(id)) return "";
  pending_ += bytes;
  std::string text;
  pending_.erase(0, append_utf8_lossy(pending_, false, &text));
  return text;
}

std::string IncrementalDecoder::finish() {
  std::string text;
  append_utf8_lossy(pending_, true, &text);
  pending_.clear();
  return text;
}

}  // namespace stepwise
