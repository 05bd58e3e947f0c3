// ChatTemplate: the Qwen3 chat template (the Jinja in Qwen3's tokenizer_config.json, thinking included)
// written out in C++. It renders the text Hugging Face's apply_chat_template renders, byte for byte, and
// finds the tokens of each assistant completion for loss masking.
//
// Completion spans (what SFT trains on). For each assistant message the completion is what the model writes
// after the prompt "<|im_start|>assistant\n": the turn's body as the template renders it (the
// "<think>\n…\n</think>\n\n" block when the template keeps one, the content, any <tool_call> blocks) and the
// "<|im_end|>" that ends the turn. The "\n" the template writes after "<|im_end|>" is not part of it (generation
// stops at <|im_end|>). In tokens a span is [begin, end): `begin` is the first token holding a byte of the
// body, `end` is one past the <|im_end|> token. A body that starts with a line break may share its first token
// with the header's "\n" (the text "\n\n" is one token); that token is inside the span. An empty body gives a
// span of the <|im_end|> token alone. Every assistant message gets a span, earlier turns included (whose
// reasoning the template drops); the caller picks which to train on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace stepwise {

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // a string is written as is, anything else as JSON (the template's tojson)
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::optional<std::string> reasoning_content;  // assistant only; else any "<think>…</think>" in content
  std::vector<ToolCall> tool_calls;              // assistant only
};

struct ChatOptions {
  bool add_generation_prompt = false;  // end with "<|im_start|>assistant\n"
  bool enable_thinking = true;         // false adds the empty "<think>\n\n</think>\n\n" to the generation prompt
  nlohmann::ordered_json tools;        // null, or an array of tool signatures (JSON schema objects)
};

struct RenderedChat {
  struct Completion {
    size_t message;     // index in the messages
    size_t begin, end;  // bytes of the text: the body through "<|im_end|>"
  };
  std::string text;
  std::vector<Completion> completions;
};

struct CompletionSpan {
  size_t message;
  size_t begin, end;  // token indices, as defined above
};

struct EncodedChat {
  std::string text;
  std::vector<int32_t> ids;  // tokenizer.encode(text): Hugging Face's apply_chat_template(tokenize=True)
  std::vector<CompletionSpan> completions;
};

class ChatTemplate {
 public:
  // `tokenizer` must outlive this. Its tokenizer_config.json must hold the Qwen3 template this class reproduces
  // (FAILED_PRECONDITION otherwise: another template would render differently).
  explicit ChatTemplate(const Tokenizer& tokenizer);

  // No messages, or an unknown role, is INVALID_ARGUMENT (Jinja fails on the first, drops the message on the
  // second).
  RenderedChat render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const;
  EncodedChat encode(const std::vector<ChatMessage>& messages, const ChatOptions& options) const;

 private:
  const Tokenizer& tokenizer_;
  int32_t im_end_id_;
};

// Python's s.strip("\n"), as the template applies it to reasoning.
std::string strip_newlines(const std::string& s);

// Messages in the OpenAI / Hugging Face JSON form: [{"role": ..., "content": ..., "reasoning_content": ...,
// "tool_calls": [{"function": {"name": ..., "arguments": ...}}]}]. Errors name messages[i].field.
std::vector<ChatMessage> chat_messages_from_json(const nlohmann::ordered_json& messages);

}  // namespace stepwise
