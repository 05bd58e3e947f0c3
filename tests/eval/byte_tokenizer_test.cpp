// The demo's byte tokenizer: bytes and special spellings round trip; chats follow the Qwen3 layout with the loss
// mask on the assistant body and its <|im_end|>.
#include <gtest/gtest.h>

#include "tokenizer/byte_tokenizer.h"

namespace stepwise {
namespace {

TEST(ByteTokenizer, RoundTripWithSpecials) {
  const ByteTokenizer tok;
  const std::string text = "a\n<think>x</think>é<|im_end|>";
  const std::vector<int32_t> ids = tok.encode(text);
  EXPECT_EQ(ids, (std::vector<int32_t>{'a', '\n', ByteTokenizer::kThink, 'x', ByteTokenizer::kEndThink, 0xC3, 0xA9,
                                       ByteTokenizer::kImEnd}));
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_THROW(tok.decode({ByteTokenizer::kVocabSize}), std::exception);
}

TEST(ByteTokenizer, ChatLayoutAndMask) {
  const ByteTokenizer tok;
  const std::vector<ChatMessage> chat = {{"user", "2+3?", std::nullopt, {}},
                                         {"assistant", "\\boxed{5}", std::string("\n2+3=5\n"), {}}};
  const ByteTokenizer::Chat c = tok.encode_chat(chat, false);
  EXPECT_EQ(tok.decode(c.ids),
            "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n2+3=5\n</think>\n\n\\boxed{5}"
            "<|im_end|>\n");
  std::vector<int32_t> trained;
  for (size_t i = 0; i < c.ids.size(); ++i)
    if (c.assistant_mask[i]) trained.push_back(c.ids[i]);
  EXPECT_EQ(tok.decode(trained), "<think>\n2+3=5\n</think>\n\n\\boxed{5}<|im_end|>");
  // No reasoning: the empty think block of Qwen3's non-thinking answers. A generation prompt ends the chat.
  const ByteTokenizer::Chat d = tok.encode_chat({chat[0], {"assistant", "\\boxed{5}", std::nullopt, {}}}, false);
  EXPECT_NE(tok.decode(d.ids).find("assistant\n<think>\n\n</think>\n\n\\boxed{5}<|im_end|>"), std::string::npos);
  EXPECT_EQ(tok.decode(tok.encode_chat({chat[0]}, true).ids),
            "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace stepwise
