// NFC normalization (utf8proc) that remembers which input bytes each normalized stretch came from, so that
// token offsets can be given in the caller's text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace stepwise {

// NFC never lets an ASCII character compose with what precedes it, and never lets ASCII whitespace or
// controls compose with what follows. So the text is normalized run by run, a run being a stretch of
// non-ASCII characters plus the ASCII character before it unless that one is whitespace or a control; the
// rest is copied. That is exactly NFC of the whole text, and it keeps offsets outside runs exact.
struct NormalizedText {
  struct Run {  // a run NFC changed: normalized [norm_begin, norm_end) came from input [raw_begin, raw_end)
    size_t norm_begin, norm_end, raw_begin, raw_end;
  };
  std::string text;
  std::vector<Run> changed;  // in order

  // The input offset of normalized offset `pos`. Inside a changed run, a token's begin maps to the run's
  // input begin and its end to the run's input end (the smallest input range that holds the token).
  size_t input_offset(size_t pos, bool is_end) const;
};

// Replaces *out with NFC of `text` (valid UTF-8).
void nfc_normalize(std::string_view text, NormalizedText* out);

}  // namespace stepwise
