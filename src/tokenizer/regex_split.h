// The Split pre-tokenizer of tokenizer.json ("Isolated": every match and every gap between matches becomes a
// pre-token), run with PCRE2 (UTF + UCP + JIT) on a pattern written for Oniguruma, Hugging Face's engine.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace stepwise {

// The pattern for PCRE2 with the meaning it has in Oniguruma. They differ in one place that matters: `\s` in
// Oniguruma is Unicode White_Space, while PCRE2's also takes U+180E, so \s and \S become explicit classes.
// `\S` inside a character class has no such rewrite and is rejected (kUnimplemented).
std::string oniguruma_to_pcre2(const std::string& pattern);

class RegexSplitter {
 public:
  // `pattern` is a tokenizer.json Regex (translated as above) or, with `literal`, a String; `where` names
  // the field for errors.
  RegexSplitter(const std::string& pattern, bool literal, const std::string& where);

  // Calls fn(begin, end) for each pre-token of text (valid UTF-8), in order, covering all of it.
  template <class Fn>
  void split(std::string_view text, Fn&& fn) const {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t begin, end;
      if (!next_match(text, pos, &begin, &end)) break;
      if (begin > pos) fn(pos, begin);
      fn(begin, end);
      pos = end;
    }
    if (pos < text.size()) fn(pos, text.size());
  }

 private:
  // The first non-empty match at or after `from`; false when there is none.
  bool next_match(std::string_view text, size_t from, size_t* begin, size_t* end) const;

  struct Code;
  std::shared_ptr<const Code> code_;
};

}  // namespace stepwise
