// The Qwen3 chat template, statement by statement in the order of its Jinja source (quoted in comments), and
// the mapping of assistant completions onto tokens.
#include "tokenizer/chat_template.h"

#include <algorithm>

#include "core/status.h"
#include "io/hash.h"
#include "tokenizer/python_json.h"

namespace stepwise {
namespace {

// FNV-1a of the Jinja source this file reproduces (Qwen3's tokenizer_config.json, 4116 bytes).
constexpr uint64_t kQwen3TemplateHash = 0x2bfdb7aa9754484eull;

// Python's str methods with the arguments the template uses.
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
std::string lstrip_newlines(const std::string& s) {
  const size_t b = s.find_first_not_of('\n');
  return b == std::string::npos ? "" : s.substr(b);
}
std::string rstrip_newlines(const std::string& s) {
  const size_t e = s.find_last_not_of('\n');
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}
std::string split_first(const std::string& s, const std::string& sep) {  // s.split(sep)[0]
  return s.substr(0, s.find(sep));
}
std::string split_last(const std::string& s, const std::string& sep) {  // s.split(sep)[-1]
  const size_t p = s.rfind(sep);
  return p == std::string::npos ? s : s.substr(p + sep.size());
}

constexpr const char* kToolsIntro =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr const char* kToolsOutro =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";

}  // namespace

std::string strip_newlines(const std::string& s) { return lstrip_newlines(rstrip_newlines(s)); }

ChatTemplate::ChatTemplate(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {
  const std::string& jinja = tokenizer.chat_template();
  if (fnv1a64(jinja.data(), jinja.size()) != kQwen3TemplateHash)
    fail(StatusCode::kFailedPrecondition, "the chat template beside ", tokenizer.source(),
         tokenizer.chat_template().empty() ? " is missing" : " is not the Qwen3 template",
         " (tokenizer_config.json field chat_template); stepwise renders only Qwen3's thinking template");
  for (const char* t : {"<|im_start|>", "<|im_end|>", "<think>", "</think>"})
    if (!tokenizer.token_to_id(t)) invalid_argument(tokenizer.source(), " has no token ", t, " for the chat template");
  im_end_id_ = *tokenizer.token_to_id("<|im_end|>");
}

RenderedChat ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
  RenderedChat r;
  std::string& t = r.text;
  const size_t n = messages.size();
  if (n == 0) invalid_argument("messages is empty; a chat needs at least one message");  // Jinja fails on it too
  for (size_t i = 0; i < n; ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      invalid_argument("messages[", i, "].role is \"", role, "\"; expected system, user, assistant or tool");
  }
  const bool first_is_system = messages[0].role == "system";

  // {%- if tools %} ... {%- else %} {%- if messages[0].role == 'system' %} ...
  if (options.tools.is_array() && !options.tools.empty()) {
    t += "<|im_start|>system\n";
    if (first_is_system) t += messages[0].content + "\n\n";
    t += kToolsIntro;
    for (const auto& tool : options.tools) t += "\n" + python_json_dumps(tool);
    t += kToolsOutro;
  } else if (first_is_system) {
    t += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }

  // ns.last_query_index: the last user message that is not a wrapped tool response.
  size_t last_query = n - 1;  // messages|length - 1
  for (size_t k = n; k-- > 0;) {
    const ChatMessage& m = messages[k];
    if (m.role == "user" && !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
      last_query = k;
      break;
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    const bool last = i + 1 == n;
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      t += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      std::string content = m.content, reasoning;
      if (m.reasoning_content) {
        reasoning = *m.reasoning_content;
      } else if (m.content.find("</think>") != std::string::npos) {
        content = lstrip_newlines(split_last(m.content, "</think>"));
        reasoning = lstrip_newlines(split_last(rstrip_newlines(split_first(m.content, "</think>")), "<think>"));
      }
      t += "<|im_start|>assistant\n";
      const size_t body = t.size();
      if (i > last_query && (last || !reasoning.empty()))
        t += "<think>\n" + strip_newlines(reasoning) + "\n</think>\n\n" + lstrip_newlines(content);
      else
        t += content;
      for (size_t j = 0; j < m.tool_calls.size(); ++j) {
        const ToolCall& call = m.tool_calls[j];
        if (j > 0 || !content.empty()) t += "\n";
        t += "<tool_call>\n{\"name\": \"" + call.name + "\", \"arguments\": ";
        t += call.arguments.is_string() ? call.arguments.get<std::string>() : python_json_dumps(call.arguments);
        t += "}\n</tool_call>";
      }
      t += "<|im_end|>";
      r.completions.push_back({i, body, t.size()});
      t += "\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") t += "<|im_start|>user";
      t += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (last || messages[i + 1].role != "tool") t += "<|im_end|>\n";
    }
  }

  if (options.add_generation_prompt) {
    t += "<|im_start|>assistant\n";
    if (!options.enable_thinking) t += "<think>\n\n</think>\n\n";
  }
  return r;
}

EncodedChat ChatTemplate::encode(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
  RenderedChat r = render(messages, options);
  EncodedChat e;
  std::vector<TokenOffsets> offsets;
  tokenizer_.encode(r.text, &e.ids, &offsets);
  // Token ends rise with the token index: the first token ending after the body's start begins the span, the one
  // ending exactly at the body's end closes it.
  const auto end_before = [](const TokenOffsets& o, size_t pos) { return o.end < pos; };
  const auto ends_after = [](size_t pos, const TokenOffsets& o) { return pos < o.end; };
  for (const RenderedChat::Completion& c : r.completions) {
    const size_t begin = std::upper_bound(offsets.begin(), offsets.end(), c.begin, ends_after) - offsets.begin();
    const size_t end = std::lower_bound(offsets.begin(), offsets.end(), c.end, end_before) - offsets.begin() + 1;
    SW_CHECK(end <= e.ids.size() && offsets[end - 1].end == c.end && e.ids[end - 1] == im_end_id_,
             "assistant turn ", c.message, " does not end on its <|im_end|> token");
    e.completions.push_back({c.message, begin, end});
  }
  e.text = std::move(r.text);
  return e;
}

std::vector<ChatMessage> chat_messages_from_json(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) invalid_argument("messages must be a JSON array of {\"role\": ..., \"content\": ...}");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) invalid_argument(where, " must be an object");
    auto string_field = [&](const char* key, bool required) -> std::optional<std::string> {
      const auto it = m.find(key);
      if (it == m.end() || (!required && it->is_null())) {
        if (required) invalid_argument(where, ".", key, " is missing");
        return std::nullopt;
      }
      if (!it->is_string()) invalid_argument(where, ".", key, " must be a string");
      return it->get<std::string>();
    };
    ChatMessage msg;
    msg.role = *string_field("role", true);
    msg.content = *string_field("content", true);
    msg.reasoning_content = string_field("reasoning_content", false);
    if (const auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      if (!calls->is_array()) invalid_argument(where, ".tool_calls must be an array");
      for (size_t j = 0; j < calls->size(); ++j) {
        const std::string call_where = where + ".tool_calls[" + std::to_string(j) + "]";
        const auto& raw = (*calls)[j];
        // {%- if tool_call.function %} {%- set tool_call = tool_call.function %}
        const auto fn = raw.is_object() ? raw.find("function") : raw.end();
        const auto& call = fn != raw.end() && !fn->empty() ? *fn : raw;  // empty() is also true of null
        if (!call.is_object() || !call.contains("name") || !call["name"].is_string() || !call.contains("arguments"))
          invalid_argument(call_where,
                           " must have a string \"name\" and \"arguments\" (directly or under \"function\")");
        msg.tool_calls.push_back({call["name"].get<std::string>(), call["arguments"]});
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace stepwise
