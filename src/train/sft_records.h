// SFT records: one JSON object of a dataset file -> the chat it trains on. The format is detected per record:
//   chat               {"messages": [{"role", "content", optional "reasoning_content", "tool_calls"}, ...]}
//   prompt/completion  {"prompt": str | messages, "completion": str | messages}
//   distilled trace    {"problem", "message_thinking", "message_content"}: the user asks the problem, the assistant
//                      thinks message_thinking and answers message_content (extra keys such as gtruth_answer are kept
//                      out of the chat)
//   GSM8K              {"question", "answer"}: the worked steps of the answer (calculator annotations <<...>> removed)
//                      become the reasoning, the "#### N" line the final answer "\boxed{N}"
// Every assistant turn is trained on (its completion span, through the closing <|im_end|>).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

namespace stepwise {

// Why a record is skipped: a short machine-readable reason ("missing_field", ...) and a message for people.
class BadRecord : public std::runtime_error {
 public:
  BadRecord(std::string reason, const std::string& message) : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// The reasons in the order summaries list them.
const std::vector<std::string>& bad_record_reasons();

struct SftExample {
  std::string format;  // "chat", "prompt_completion", "distill", "gsm8k"
  std::vector<ChatMessage> messages;
};

// Throws BadRecord (unknown_format, missing_field, wrong_type, invalid_messages, no_assistant_turn,
// empty_completion) for a record that cannot be trained on.
SftExample parse_sft_record(const nlohmann::ordered_json& record);

// GSM8K's answer field -> (reasoning, final answer "N"); BadRecord when there is no "#### N" line.
std::pair<std::string, std::string> split_gsm8k_answer(const std::string& answer);

}  // namespace stepwise
