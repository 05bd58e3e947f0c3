// Added-token matching: a first-byte filter, then the tokens longest first (there are only a few dozen).
#include "tokenizer/added_tokens.h"

#include <algorithm>

namespace stepwise {

void AddedTokenMatcher::add(const std::string& content, int32_t id) {
  if (content.empty()) return;
  const Token t{content, id};
  tokens_.insert(std::upper_bound(tokens_.begin(), tokens_.end(), t,
                                  [](const Token& a, const Token& b) { return a.content.size() > b.content.size(); }),
                 t);
  first_byte_[static_cast<uint8_t>(content[0])] = true;
}

bool AddedTokenMatcher::find(std::string_view text, size_t from, Match* match) const {
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte_[static_cast<uint8_t>(text[i])]) continue;
    const std::string_view rest = text.substr(i);
    for (const Token& t : tokens_)
      if (rest.size() >= t.content.size() && rest.compare(0, t.content.size(), t.content) == 0) {
        *match = Match{i, i + t.content.size(), t.id};
        return true;
      }
  }
  return false;
}

}  // namespace stepwise
