// UTF-8 validation and lossy repair (Unicode's "maximal subpart" substitution, as Rust and WHATWG do it).
#include "tokenizer/utf8.h"

namespace stepwise {
namespace {

enum class Seq { kValid, kInvalid, kTruncated };

// Classifies the sequence at p[0..n): kValid sets *len to its length; kInvalid sets *len to the maximal
// subpart to replace by one U+FFFD (at least 1); kTruncated means p[0..n) is a valid prefix of a longer one.
Seq classify(const unsigned char* p, size_t n, size_t* len) {
  const unsigned char b = p[0];
  if (b < 0x80) return *len = 1, Seq::kValid;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;  // no overlong forms
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return *len = 1, Seq::kInvalid;
  }
  for (size_t i = 1; i <= need; ++i) {
    if (i >= n) return *len = i, Seq::kTruncated;
    const unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
    if (p[i] < lo_i || p[i] > hi_i) return *len = i, Seq::kInvalid;
  }
  *len = need + 1;
  return Seq::kValid;
}

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    if (classify(p + i, n - i, &len) != Seq::kValid) return i;
    i += len;
  }
  return n;
}

uint32_t next_code_point(std::string_view text, size_t* pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + *pos;
  if (p[0] < 0x80) return *pos += 1, p[0];
  if (p[0] < 0xE0) return *pos += 2, ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  if (p[0] < 0xF0) return *pos += 3, ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  *pos += 4;
  return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

void append_code_point(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t append_utf8_lossy(std::string_view bytes, bool final, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0, run = 0;  // [run, i) is valid text not yet appended
  while (i < n) {
    size_t len;
    const Seq s = p[i] < 0x80 ? (len = 1, Seq::kValid) : classify(p + i, n - i, &len);
    if (s == Seq::kValid) {
      i += len;
      continue;
    }
    out->append(bytes.data() + run, i - run);
    if (s == Seq::kTruncated && !final) return i;
    out->append("\xEF\xBF\xBD");  // U+FFFD
    i += len;
    run = i;
  }
  out->append(bytes.data() + run, n - run);
  return n;
}

}  // namespace stepwise
