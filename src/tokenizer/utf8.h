// UTF-8 for the tokenizer: validation, code points, and lossy repair of token bytes (each invalid part
// becomes U+FFFD exactly as Rust's String::from_utf8_lossy, and so Hugging Face's decode, does it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stepwise {

// Offset of the first byte that does not start a complete, valid UTF-8 sequence; text.size() if none.
size_t find_invalid_utf8(std::string_view text);

// The code point starting at text[*pos] (which must be valid UTF-8); advances *pos past it.
uint32_t next_code_point(std::string_view text, size_t* pos);

void append_code_point(uint32_t cp, std::string* out);

// Appends `bytes` to `out` with every maximal invalid subsequence replaced by U+FFFD. When `final` is false a
// sequence cut off by the end of `bytes` (a valid prefix of a longer character) is left out: the return value
// is the number of bytes consumed, so a caller can keep the rest and retry once more bytes arrive.
size_t append_utf8_lossy(std::string_view bytes, bool final, std::string* out);

}  // namespace stepwise
