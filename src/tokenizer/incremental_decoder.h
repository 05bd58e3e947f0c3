// IncrementalDecoder: decoding a stream of generated ids, emitting text only once its UTF-8 is complete, so a
// character split across tokens is never shown half (or as U+FFFD) mid-stream.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace stepwise {

class IncrementalDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // The text that `id` completes (often empty). Bytes that can never become valid UTF-8 are emitted as U+FFFD
  // right away, so the concatenation of every push() and finish() equals tokenizer.decode(all ids).
  std::string push(int32_t id);
  // The rest: an incomplete character at the end becomes U+FFFD. The decoder is then empty and reusable.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of an incomplete character
};

}  // namespace stepwise
