// `stepwise tokenize`: UTF-8 text (or a chat as JSON messages) on stdin to token ids as one JSON array, or
// with --decode a JSON array of ids back to text, with a Hugging Face tokenizer directory.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/status.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise::cli {
namespace {

constexpr const char* kUsage =
    "usage: stepwise tokenize --tokenizer DIR [--chat [--enable-thinking | --no-thinking]\n"
    "                         [--add-generation-prompt]] [--decode [--skip-special-tokens]]\n"
    "\n"
    "Reads stdin and writes stdout, with the tokenizer.json (and tokenizer_config.json) in DIR:\n"
    "  (default)     UTF-8 text -> token ids, one JSON array (no special tokens added)\n"
    "  --chat        a JSON array of messages [{\"role\": ..., \"content\": ...}] rendered with the Qwen3 chat\n"
    "                template -> token ids; thinking is on unless --no-thinking\n"
    "  --decode      a JSON array of token ids -> text\n";

std::string read_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void print_ids(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

nlohmann::ordered_json parse_stdin_json(const std::string& text, const char* expected) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    invalid_argument("stdin: expected ", expected, ", but it is not valid JSON (", e.what(), ")");
  }
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Args args(argc, argv,
            {"help", "chat", "enable-thinking", "no-thinking", "add-generation-prompt", "decode", "skip-special-tokens"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string dir = args.require("tokenizer");
  const bool chat = args.flag("chat"), decode = args.flag("decode");
  const bool thinking_on = args.flag("enable-thinking"), thinking_off = args.flag("no-thinking");
  const bool generation_prompt = args.flag("add-generation-prompt");
  const bool skip_special = args.flag("skip-special-tokens");
  args.finish();
  if (chat && decode) invalid_argument("tokenize: --chat and --decode exclude each other");
  if (thinking_on && thinking_off) invalid_argument("tokenize: --enable-thinking and --no-thinking exclude each other");
  if (!chat && (thinking_on || thinking_off || generation_prompt))
    invalid_argument("tokenize: --enable-thinking, --no-thinking and --add-generation-prompt need --chat");
  if (!decode && skip_special) invalid_argument("tokenize: --skip-special-tokens needs --decode");

  const Tokenizer tokenizer = Tokenizer::load(dir);
  const std::string input = read_stdin();
  if (decode) {
    const auto ids_json = parse_stdin_json(input, "a JSON array of token ids");
    std::vector<int32_t> ids;
    if (!ids_json.is_array()) invalid_argument("stdin: expected a JSON array of token ids");
    for (size_t i = 0; i < ids_json.size(); ++i) {
      if (!ids_json[i].is_number_integer() || ids_json[i].get<int64_t>() < 0 || ids_json[i].get<int64_t>() > INT32_MAX)
        invalid_argument("stdin: element ", i, " of the array is ", ids_json[i].dump(), ", not a token id");
      ids.push_back(ids_json[i].get<int32_t>());
    }
    const std::string text = tokenizer.decode(ids, skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else if (chat) {
    const ChatTemplate chat_template(tokenizer);
    ChatOptions options;
    options.add_generation_prompt = generation_prompt;
    options.enable_thinking = !thinking_off;
    const auto messages = chat_messages_from_json(parse_stdin_json(input, "a JSON array of chat messages"));
    print_ids(chat_template.encode(messages, options).ids);
  } else {
    print_ids(tokenizer.encode(input));
  }
  return 0;
}

}  // namespace stepwise::cli
