// `stepwise data prepare`: SFT records (JSONL, or a .json array) -> a token dataset for `stepwise train`.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "tokenizer/chat_template.h"
#include "train/data_prep.h"

namespace stepwise::cli {

namespace {

struct PrepareFlags {
  std::string tokenizer_dir, input, output;
  DataPrepOptions options;
  bool no_progress = false;
};

// "a.jsonl,b.json" -> the file names; `error` says what is wrong (an empty name) when not empty.
std::vector<std::string> split_inputs(const std::string& input, std::string* error) {
  std::vector<std::string> inputs;
  for (size_t b = 0; b <= input.size();) {
    const size_t e = std::min(input.find(',', b), input.size());
    if (e == b) *error = "empty file name in '" + input + "'";
    inputs.push_back(input.substr(b, e - b));
    b = e + 1;
  }
  return inputs;
}

int data_prepare(const PrepareFlags& flags) {
  std::string error;
  const std::vector<std::string> inputs = split_inputs(flags.input, &error);
  DataPrepOptions options = flags.options;
  options.progress = !flags.no_progress;
  const Tokenizer tokenizer = Tokenizer::load(flags.tokenizer_dir);
  const ChatTemplate tmpl(tokenizer);
  const DataPrepSummary summary = prepare_sft_data(inputs, flags.output, qwen3_chat_encoder(tmpl), options);
  std::printf("data prepare: %s -> %s\n%s\n", flags.input.c_str(), flags.output.c_str(), summary.to_text().c_str());
  return 0;
}

void add_prepare_command(CommandLine& cli, CLI::App& data) {
  auto flags = std::make_shared<PrepareFlags>();
  CLI::App& command = add_command(
      data, "prepare", "SFT records -> token shards that `stepwise train` packs",
      "stepwise data prepare --tokenizer DIR --input train.jsonl,traces.json --output data/train --max-len 4096",
      "FILE: JSONL (one record per line) or .json (one array of records); several files make one dataset.\n"
      "Formats, detected per record: chat {messages}, {prompt, completion}, distilled traces {problem,\n"
      "message_thinking, message_content}, GSM8K {question, answer}. Every example goes through the Qwen3 chat\n"
      "template; the loss covers the assistant turns. Bad records are skipped and counted (--strict: an error).\n"
      "An existing dataset at --output is replaced only when the new one is complete (docs/sft.md).");
  add_tokenizer_flag(command, flags->tokenizer_dir);
  check_value(command.add_option("--input", flags->input, "the SFT records, comma-separated")
                  ->required()
                  ->type_name("FILE[,FILE...]"),
              "each an existing file", [](const std::string& value) {
                std::string error;
                for (const std::string& file : split_inputs(value, &error))
                  if (error.empty() && (!std::filesystem::exists(file) || std::filesystem::is_directory(file)))
                    error = "no file '" + file + "'";
                return error;
              });
  command.add_option("--output", flags->output, "the token dataset's directory")->required()->type_name("DIR");
  at_least(command.add_option("--max-len", flags->options.max_len,
                              "skip examples longer than N tokens (counted as too_long); 0: no limit")
               ->type_name("N"),
           0);
  command.add_flag("--strict", flags->options.strict, "a bad record is an error instead of skipped");
  at_least(command.add_option("--shard-tokens", flags->options.shard_tokens, "tokens per shard file")->type_name("N"),
           1);
  command.add_flag("--no-progress", flags->no_progress, "no progress bar on stderr");
  cli.on_run(command, [flags] { return data_prepare(*flags); });
}

}  // namespace

void add_data_command(CommandLine& cli, CLI::App& parent) {
  CLI::App& data = add_command(parent, "data", "SFT data: JSONL / JSON records -> packed-ready token shards",
                               "stepwise data prepare --tokenizer DIR --input train.jsonl --output data/train");
  add_prepare_command(cli, data);
}

}  // namespace stepwise::cli
