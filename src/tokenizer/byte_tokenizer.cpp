// Byte-level tokenizer with the Qwen3 chat specials, for the embedded demo.
#include "tokenizer/byte_tokenizer.h"

#include "core/status.h"

namespace stepwise {

namespace {

constexpr const char* kSpecials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};

void append(std::vector<int32_t>& ids, std::vector<uint8_t>& mask, const std::vector<int32_t>& more, uint8_t m) {
  ids.insert(ids.end(), more.begin(), more.end());
  mask.insert(mask.end(), more.size(), m);
}

}  // namespace

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size();) {
    bool special = false;
    for (int32_t s = 0; s < 5 && !special; ++s) {
      const std::string_view spelling = kSpecials[s];
      if (text.compare(i, spelling.size(), spelling) == 0) {
        ids.push_back(kEndOfText + s);
        i += spelling.size();
        special = true;
      }
    }
    if (!special) ids.push_back(static_cast<unsigned char>(text[i++]));
  }
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= kVocabSize) invalid_argument("byte tokenizer: id ", id, " is outside [0, ", kVocabSize, ")");
    if (id < 256) out.push_back(static_cast<char>(id));
    else out += kSpecials[id - 256];
  }
  return out;
}

ByteTokenizer::Chat ByteTokenizer::encode_chat(const std::vector<ChatMessage>& messages,
                                               bool add_generation_prompt) const {
  Chat c;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      invalid_argument("messages[", i, "].role is \"", m.role, "\"; the demo's chats have system, user, assistant");
    append(c.ids, c.assistant_mask, encode("<|im_start|>" + m.role + "\n"), 0);
    if (m.role == "assistant") {
      const std::string body = "<think>\n" + strip_newlines(m.reasoning_content.value_or("")) + "\n</think>\n\n" +
                               m.content + "<|im_end|>";
      append(c.ids, c.assistant_mask, encode(body), 1);
      append(c.ids, c.assistant_mask, encode("\n"), 0);
    } else {
      append(c.ids, c.assistant_mask, encode(m.content + "<|im_end|>\n"), 0);
    }
  }
  if (add_generation_prompt) append(c.ids, c.assistant_mask, encode("<|im_start|>assistant\n"), 0);
  return c;
}

}  // namespace stepwise
