// Finding added tokens (<|im_start|>, <think>, ...) in text before it is split, leftmost-longest, as
// tokenizers' AddedVocabulary does with Aho-Corasick.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stepwise {

class AddedTokenMatcher {
 public:
  void add(const std::string& content, int32_t id);
  bool empty() const { return tokens_.empty(); }

  struct Match {
    size_t begin, end;
    int32_t id;
  };
  // The leftmost match at or after `from`, the longest among those starting there; false when none.
  bool find(std::string_view text, size_t from, Match* match) const;

 private:
  struct Token {
    std::string content;
    int32_t id;
  };
  std::vector<Token> tokens_;           // longest first
  std::array<bool, 256> first_byte_{};  // bytes some token starts with
};

}  // namespace stepwise
