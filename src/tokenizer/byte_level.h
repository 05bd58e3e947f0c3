// The GPT-2 byte-level alphabet of tokenizer.json: each byte 0..255 is written as one printable code point
// (printable Latin-1 bytes as themselves, the rest as U+0100 + n), so vocab and merges are Unicode strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stepwise {

// The code point that stands for `byte` in tokenizer.json.
uint32_t byte_level_code_point(uint8_t byte);

// The bytes a vocab token stands for, as Hugging Face's ByteLevel decoder computes them: when every code
// point of `token` is in the alphabet, the bytes they stand for; otherwise the token's own UTF-8 text.
std::string byte_level_token_bytes(std::string_view token);

// The tokenizer.json spelling of raw bytes (inverse of byte_level_token_bytes for alphabet strings).
std::string byte_level_spelling(std::string_view bytes);

}  // namespace stepwise
