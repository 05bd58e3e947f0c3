// ByteTokenizer: the tokenizer of the embedded demo (`stepwise demo`): ids 0..255 are the bytes of the text, then
// five special tokens spelled as Qwen3's (<|endoftext|>, <|im_start|>, <|im_end|>, <think>, </think>). Chats use
// the Qwen3 layout, so the demo trains exactly what a Qwen3 SFT run trains: "<|im_start|>role\n…<|im_end|>\n" per
// message, and an assistant body "<think>\n{reasoning}\n</think>\n\n{content}" (an empty think block without
// reasoning, as Qwen3's non-thinking answers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"

namespace stepwise {

class ByteTokenizer {
 public:
  static constexpr int32_t kEndOfText = 256, kImStart = 257, kImEnd = 258, kThink = 259, kEndThink = 260;
  static constexpr int32_t kVocabSize = 261;

  // The bytes of `text`, with the special tokens' spellings turned into their ids.
  std::vector<int32_t> encode(std::string_view text) const;
  // Bytes and special spellings back to text (an id outside the vocabulary is INVALID_ARGUMENT).
  std::string decode(const std::vector<int32_t>& ids) const;

  struct Chat {
    std::vector<int32_t> ids;
    std::vector<uint8_t> assistant_mask;  // 1 on each assistant body and its <|im_end|>
  };
  // Roles system, user, assistant; `add_generation_prompt` ends with "<|im_start|>assistant\n".
  Chat encode_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
};

}  // namespace stepwise
