// Record formats of SFT datasets, detected per record, turned into chats.
#include "train/sft_records.h"

#include "core/status.h"
#include "core/strings.h"

namespace stepwise {

namespace {

using json = nlohmann::ordered_json;

std::string string_field(const json& r, const char* key) {
  const auto it = r.find(key);
  if (it == r.end() || it->is_null()) throw BadRecord("missing_field", std::string("missing field \"") + key + "\"");
  if (!it->is_string())
    throw BadRecord("wrong_type", std::string("field \"") + key + "\" must be a string, got " + it->type_name());
  return it->get<std::string>();
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

std::vector<ChatMessage> messages_field(const json& value, const std::string& key) {
  try {
    return chat_messages_from_json(value);
  } catch (const StatusError& e) {
    throw BadRecord("invalid_messages", key + ": " + e.what());
  }
}

// A prompt or completion: a string (one message of `role`) or a list of messages.
std::vector<ChatMessage> turns_field(const json& r, const char* key, const char* role) {
  const auto it = r.find(key);
  if (it == r.end() || it->is_null()) throw BadRecord("missing_field", std::string("missing field \"") + key + "\"");
  if (it->is_string()) return {ChatMessage{role, it->get<std::string>(), std::nullopt, {}}};
  if (it->is_array()) return messages_field(*it, key);
  throw BadRecord("wrong_type", std::string("field \"") + key + "\" must be a string or a list of messages, got " +
                                    it->type_name());
}

// Every chat needs an assistant turn with something in it.
void check_trainable(const std::vector<ChatMessage>& messages) {
  bool any = false;
  for (const ChatMessage& m : messages) {
    if (m.role != "assistant") continue;
    any = true;
    if (blank(m.content) && blank(m.reasoning_content.value_or("")) && m.tool_calls.empty())
      throw BadRecord("empty_completion", "an assistant turn has no content");
  }
  if (!any) throw BadRecord("no_assistant_turn", "no assistant turn to train on");
}

}  // namespace

const std::vector<std::string>& bad_record_reasons() {
  static const std::vector<std::string> reasons = {"invalid_json",     "unknown_format",    "missing_field",
                                                   "wrong_type",       "invalid_messages",  "no_assistant_turn",
                                                   "empty_completion", "too_long"};
  return reasons;
}

std::pair<std::string, std::string> split_gsm8k_answer(const std::string& answer) {
  const size_t mark = answer.rfind("####");
  if (mark == std::string::npos) throw BadRecord("missing_field", "GSM8K answer has no \"#### N\" final line");
  const std::string final_answer = trim(answer.substr(mark + 4));
  if (final_answer.empty()) throw BadRecord("empty_completion", "GSM8K answer has an empty \"####\" line");
  std::string steps;  // without the calculator annotations "<<48/2=24>>"
  const std::string body = answer.substr(0, mark);
  for (size_t i = 0; i < body.size();) {
    const size_t open = body.find("<<", i);
    const size_t close = open == std::string::npos ? open : body.find(">>", open);
    if (close == std::string::npos) {
      steps += body.substr(i);
      break;
    }
    steps += body.substr(i, open - i);
    i = close + 2;
  }
  return {trim(steps), final_answer};
}

SftExample parse_sft_record(const json& r) {
  if (!r.is_object())
    throw BadRecord("wrong_type", std::string("a record must be a JSON object, got ") + r.type_name());
  SftExample ex;
  if (r.contains("messages")) {
    ex.format = "chat";
    if (!r["messages"].is_array())
      throw BadRecord("wrong_type", std::string("field \"messages\" must be a list, got ") + r["messages"].type_name());
    ex.messages = messages_field(r["messages"], "messages");
  } else if (r.contains("prompt") || r.contains("completion")) {
    ex.format = "prompt_completion";
    ex.messages = turns_field(r, "prompt", "user");
    std::vector<ChatMessage> completion = turns_field(r, "completion", "assistant");
    if (completion.size() == 1 && completion[0].role == "assistant" && blank(completion[0].content) &&
        completion[0].tool_calls.empty())
      throw BadRecord("empty_completion", "the completion is empty");
    ex.messages.insert(ex.messages.end(), completion.begin(), completion.end());
  } else if (r.contains("message_thinking") || r.contains("message_content")) {
    ex.format = "distill";
    const std::string problem = string_field(r, "problem");
    const std::string thinking = string_field(r, "message_thinking"), content = string_field(r, "message_content");
    if (blank(content)) throw BadRecord("empty_completion", "message_content is empty");
    ex.messages = {{"user", problem, std::nullopt, {}}, {"assistant", content, thinking, {}}};
  } else if (r.contains("question") || r.contains("answer")) {
    ex.format = "gsm8k";
    const std::string question = string_field(r, "question");
    const auto [steps, final_answer] = split_gsm8k_answer(string_field(r, "answer"));
    ex.messages = {{"user", question, std::nullopt, {}},
                   {"assistant", "\\boxed{" + final_answer + "}", steps, {}}};
  } else {
    std::string keys;
    for (auto it = r.begin(); it != r.end() && keys.size() < 80; ++it) keys += (keys.empty() ? "" : ", ") + it.key();
    throw BadRecord("unknown_format", "unknown record format (keys: " + (keys.empty() ? "none" : keys) +
                                          "); expected messages, prompt/completion, problem/message_thinking/"
                                          "message_content, or question/answer");
  }
  check_trainable(ex.messages);
  return ex;
}

}  // namespace stepwise
