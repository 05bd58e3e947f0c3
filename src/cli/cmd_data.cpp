// `stepwise data prepare`: SFT records (JSONL, or a .json array) -> a token dataset for `stepwise train`.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/status.h"
#include "tokenizer/chat_template.h"
#include "train/data_prep.h"

namespace stepwise::cli {

namespace {

constexpr const char* kUsage =
    "usage: stepwise data prepare --tokenizer DIR --input FILE[,FILE...] --output DIR [--max-len N] [--strict]\n"
    "                             [--shard-tokens N] [--no-progress]\n"
    "  FILE: JSONL (one record per line) or .json (one array of records); several files make one dataset.\n"
    "  Formats, detected per record: chat {messages}, {prompt, completion}, distilled traces {problem,\n"
    "  message_thinking, message_content}, GSM8K {question, answer}. Every example goes through the Qwen3 chat\n"
    "  template; the loss covers the assistant turns. Bad records are skipped and counted (--strict: an error).\n";

int data_prepare(int argc, char** argv) {
  Args args(argc, argv, {"strict", "no-progress", "help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string tokenizer_dir = args.require("tokenizer");
  const std::string input = args.require("input"), output = args.require("output");
  std::vector<std::string> inputs;
  for (size_t b = 0; b <= input.size();) {
    const size_t e = std::min(input.find(',', b), input.size());
    if (e == b) invalid_argument("data prepare: --input has an empty file name in '", input, "'");
    inputs.push_back(input.substr(b, e - b));
    b = e + 1;
  }
  DataPrepOptions options;
  options.max_len = args.get_int("max-len", 0);
  options.strict = args.flag("strict");
  options.shard_tokens = args.get_int("shard-tokens", options.shard_tokens);
  options.progress = !args.flag("no-progress");
  args.finish();
  if (options.max_len < 0) invalid_argument("data prepare: --max-len must be >= 0 (0: no limit)");
  if (options.shard_tokens < 1) invalid_argument("data prepare: --shard-tokens must be positive");

  const Tokenizer tokenizer = Tokenizer::load(tokenizer_dir);
  const ChatTemplate tmpl(tokenizer);
  const DataPrepSummary summary = prepare_sft_data(inputs, output, qwen3_chat_encoder(tmpl), options);
  std::printf("data prepare: %s -> %s\n%s\n", input.c_str(), output.c_str(), summary.to_text().c_str());
  return 0;
}

}  // namespace

int cmd_data(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::printf("%s", kUsage);
    if (argc < 2) invalid_argument("data: name a subcommand (prepare)");
    return 0;
  }
  if (!std::strcmp(argv[1], "prepare")) return data_prepare(argc - 1, argv + 1);
  invalid_argument("data: unknown subcommand '", argv[1], "' (known: prepare)");
}

}  // namespace stepwise::cli
