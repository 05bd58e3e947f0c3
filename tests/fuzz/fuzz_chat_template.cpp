// Fuzz target: chat messages (the OpenAI / Hugging Face JSON form: a list of messages, or {"messages": [...],
// "tools": [...]}) through chat_messages_from_json and the Qwen3 chat template, with the options taken from the
// input's first byte. Every completion span must lie inside the encoded ids, in order, and end with <|im_end|>.
#include "fuzz_qwen3.h"
#include "fuzz_util.h"
#include "tokenizer/chat_template.h"

using namespace stepwise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ChatTemplate& chat = fuzz::qwen3_chat_template();
  static const int32_t im_end = *fuzz::qwen3_tokenizer().token_to_id("<|im_end|>");
  if (size == 0) return 0;
  ChatOptions options;
  options.add_generation_prompt = data[0] & 1;
  options.enable_thinking = data[0] & 2;
  const nlohmann::ordered_json input =
      nlohmann::ordered_json::parse(data + 1, data + size, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) return 0;
  const bool with_tools = input.is_object() && input.contains("messages");
  if (with_tools) options.tools = input.value("tools", nlohmann::ordered_json());
  fuzz::refusing_with_status_errors([&] {
    const EncodedChat encoded = chat.encode(chat_messages_from_json(with_tools ? input["messages"] : input), options);
    size_t prev_end = 0;
    for (const CompletionSpan& span : encoded.completions) {
      if (span.begin < prev_end || span.begin >= span.end || span.end > encoded.ids.size())
        fuzz::finding("completion span [", span.begin, ", ", span.end, ") of message ", span.message,
                      " is out of order or outside the ", encoded.ids.size(), " ids");
      if (encoded.ids[span.end - 1] != im_end) fuzz::finding("completion span does not end with <|im_end|>");
      prev_end = span.end;
    }
  });
  return 0;
}
