// The byte-level alphabet (GPT-2's bytes_to_unicode) and the ByteLevel decoder rule.
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace stepwise {
namespace {

struct Alphabet {
  std::array<uint32_t, 256> code_point{};
  std::array<int16_t, 324> byte_of{};  // code point -> byte, -1 when it stands for none (all are < 324)

  Alphabet() {
    byte_of.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      code_point[b] = printable ? b : next++;
      byte_of[code_point[b]] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t byte_level_code_point(uint8_t byte) { return alphabet().code_point[byte]; }

std::string byte_level_token_bytes(std::string_view token) {
  const Alphabet& a = alphabet();
  std::string bytes;
  size_t pos = 0;
  while (pos < token.size()) {
    const uint32_t cp = next_code_point(token, &pos);
    if (cp >= a.byte_of.size() || a.byte_of[cp] < 0) return std::string(token);
    bytes.push_back(static_cast<char>(a.byte_of[cp]));
  }
  return bytes;
}

std::string byte_level_spelling(std::string_view bytes) {
  std::string s;
  for (const char c : bytes) append_code_point(byte_level_code_point(static_cast<uint8_t>(c)), &s);
  return s;
}

}  // namespace stepwise
