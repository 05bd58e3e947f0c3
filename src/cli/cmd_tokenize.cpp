// `stepwise tokenize`: UTF-8 text (or a chat as JSON messages) on stdin to token ids as one JSON array, or
// with --decode a JSON array of ids back to text, with a Hugging Face tokenizer directory.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace stepwise::cli {
namespace {

struct TokenizeFlags {
  std::string dir;
  bool chat = false, decode = false, thinking_on = false, thinking_off = false, generation_prompt = false;
  bool skip_special = false;
};

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
  } catch (const nlohmann::json::exception& e) {  // syntax, and numbers out of range (406: "1e999")
    invalid_argument("stdin: expected ", expected, ", but it is not valid JSON (", e.what(), ")");
  }
}

int tokenize(const TokenizeFlags& flags) {
  const Tokenizer tokenizer = Tokenizer::load(flags.dir);
  const std::string input = read_stdin();
  if (flags.decode) {
    const auto ids_json = parse_stdin_json(input, "a JSON array of token ids");
    std::vector<int32_t> ids;
    if (!ids_json.is_array()) invalid_argument("stdin: expected a JSON array of token ids");
    for (size_t i = 0; i < ids_json.size(); ++i) {
      if (!ids_json[i].is_number_integer() || ids_json[i].get<int64_t>() < 0 || ids_json[i].get<int64_t>() > INT32_MAX)
        invalid_argument("stdin: element ", i, " of the array is ", ids_json[i].dump(), ", not a token id");
      ids.push_back(ids_json[i].get<int32_t>());
    }
    const std::string text = tokenizer.decode(ids, flags.skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else if (flags.chat) {
    const ChatTemplate chat_template(tokenizer);
    ChatOptions options;
    options.add_generation_prompt = flags.generation_prompt;
    options.enable_thinking = !flags.thinking_off;
    const auto messages = chat_messages_from_json(parse_stdin_json(input, "a JSON array of chat messages"));
    print_ids(chat_template.encode(messages, options).ids);
  } else {
    print_ids(tokenizer.encode(input));
  }
  return 0;
}

}  // namespace

void add_tokenize_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App& command = add_command(
      parent, "tokenize", "text or a chat to token ids, or ids back to text (Hugging Face tokenizer.json)",
      "echo -n 'What is 2+2?' | stepwise tokenize --tokenizer DIR\n"
      "echo '[{\"role\": \"user\", \"content\": \"Hi\"}]' | stepwise tokenize --tokenizer DIR --chat --add-generation-prompt\n"
      "echo '[151644, 872]' | stepwise tokenize --tokenizer DIR --decode --skip-special-tokens",
      "Reads stdin, writes stdout:\n"
      "  (default)  UTF-8 text -> token ids, one JSON array (no special tokens added)\n"
      "  --chat     a JSON array of messages [{\"role\": ..., \"content\": ...}] rendered with the Qwen3 chat\n"
      "             template -> token ids; thinking is on unless --no-thinking\n"
      "  --decode   a JSON array of token ids -> text");
  add_tokenizer_flag(command, flags->dir);
  CLI::Option* chat = command.add_flag("--chat", flags->chat, "stdin is a chat (JSON messages), rendered with the template");
  CLI::Option* decode = command.add_flag("--decode", flags->decode, "stdin is a JSON array of token ids: print their text");
  CLI::Option* thinking_on =
      command.add_flag("--enable-thinking", flags->thinking_on, "the template's thinking mode on (the default)");
  CLI::Option* thinking_off = command.add_flag(
      "--no-thinking", flags->thinking_off, "the template's non-thinking mode (an empty <think></think> block)");
  CLI::Option* generation_prompt = command.add_flag(
      "--add-generation-prompt", flags->generation_prompt, "end with the assistant's turn opening");
  CLI::Option* skip_special = command.add_flag(
      "--skip-special-tokens", flags->skip_special, "leave special tokens (<|im_start|>, ...) out of the text");
  chat->excludes(decode);
  thinking_on->excludes(thinking_off);
  for (CLI::Option* needs_chat : {thinking_on, thinking_off, generation_prompt}) needs_chat->needs(chat);
  skip_special->needs(decode);
  cli.on_run(command, [flags] { return tokenize(*flags); });
}

}  // namespace stepwise::cli
