// `stepwise generate`: continue a prompt with a model through the serving engine. The prompt is token ids
// (--prompt-ids; the new ids are printed as a JSON array, one line per sample), raw text (--prompt) or a user
// message in the Qwen3 chat template (--chat; the reasoning is printed inside <think>…</think>, then the answer),
// with the model folder's tokenizer or --tokenizer DIR. --json prints one JSON object per sample instead. `--tp N`
// under `mpirun -np N` splits the model over N ranks, which run the engine's steps in lock-step; rank 0 prints.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/generation_printer.h"
#include "cli/serving_flags.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "infer/engine.h"
#include "model/hf_model.h"

namespace stepwise::cli {

namespace {

struct GenerateFlags {
  std::string model_dir, tokenizer_dir, prompt_ids, prompt, chat;
  GenerationRequest request;
  bool no_thinking = false, json = false;
  EngineOptions engine;
  int tp = 1;
};

// "1,2,3" -> token ids; nullopt, and what is wrong in `error`, when an element is not a non-negative 32-bit integer.
std::optional<std::vector<int32_t>> parse_ids(const std::string& text, std::string* error) {
  std::vector<int32_t> ids;
  for (size_t pos = 0; pos <= text.size();) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > INT32_MAX) {
      *error = "'" + item + "' is not a token id (expected comma-separated non-negative integers)";
      return std::nullopt;
    }
    ids.push_back(static_cast<int32_t>(v));
    pos = comma + 1;
  }
  return ids;
}

std::string ids_check(const std::string& value) {
  std::string error;
  parse_ids(value, &error);
  return error;
}

// The tokenizer: --tokenizer, else the model folder's when it has one.
std::unique_ptr<Tokenizer> load_tokenizer(const GenerateFlags& f) {
  const std::string dir = f.tokenizer_dir.empty() ? f.model_dir : f.tokenizer_dir;
  if (!std::filesystem::exists(dir + "/tokenizer.json")) {
    if (!f.prompt.empty() || !f.chat.empty() || !f.request.stop.empty())
      invalid_argument(f.chat.empty() && f.prompt.empty() ? "--stop" : f.chat.empty() ? "--prompt" : "--chat",
                       ": needs a tokenizer, and ", dir, " has no tokenizer.json; pass --tokenizer DIR");
    return nullptr;
  }
  return std::make_unique<Tokenizer>(Tokenizer::load(dir));
}

int run_generate(GenerateFlags f) {
  const ProcessGrid grid = make_process_grid(f.tp, Device::kCPU, /*dp_size=*/1);
  ModelOptions options;
  options.tp = grid.tp.get();
  auto model = load_hf_model(f.model_dir, options);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(f);
  ServingEngine engine(*model, tokenizer.get(), f.engine);
  if (!grid.is_root()) {
    engine.run_peer();
    return 0;
  }
  GenerationRequest request = f.request;
  if (!f.chat.empty()) {
    const ChatTemplate chat(*tokenizer);
    request = chat_request(chat, *tokenizer, {ChatMessage{"user", f.chat, std::nullopt, {}}}, !f.no_thinking,
                           request);
  } else if (!f.prompt.empty()) {
    request.prompt = tokenizer->encode(f.prompt);
  } else {
    std::string error;
    request.prompt = *parse_ids(f.prompt_ids, &error);
  }
  GenerationPrinter printer(f.chat.empty() && f.prompt.empty(), f.json, f.request.n);
  try {
    engine.submit(request, [&](const GenerationChunk& c) { printer(c); });
    engine.run_until_idle();
  } catch (...) {
    engine.shutdown_peers();
    throw;
  }
  engine.shutdown_peers();
  return 0;
}

}  // namespace

void add_generate_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<GenerateFlags>();
  flags->request.max_tokens = 32;
  CLI::App& command = add_command(
      parent, "generate", "continue a prompt with a model (greedy or sampled), from token ids, text or a chat",
      "stepwise generate --model runs/tiny-gsm8k-hf --prompt-ids 151644,872,198 --max-new-tokens 16\n"
      "stepwise generate --model DIR --chat 'What is 7*8?' --max-new-tokens 512 --thinking-budget 256\n"
      "stepwise generate --model DIR --prompt 'Once upon a time' --temperature 0.7 --top-p 0.9 --seed 7 --samples 3",
      "Greedy unless --temperature > 0; sampling is reproducible for a given --seed. Stops after the model's\n"
      "eos_token_id (printed) unless --ignore-eos, after --stop-token-ids, or before a --stop string.\n"
      "--prompt-ids prints the new ids as a JSON array per sample; --prompt and --chat print text (a chat's\n"
      "reasoning inside <think>...</think>, then the answer); --json prints one JSON object per sample.");
  add_model_flag(command, flags->model_dir);
  add_tokenizer_flag(command, flags->tokenizer_dir, "the tokenizer folder for --prompt, --chat and --stop (default: --model's)");
  check_value(command.add_option("--prompt-ids", flags->prompt_ids, "the prompt's token ids")->type_name("IDS"),
              "comma-separated, e.g. 1,2,3", ids_check);
  command.add_option("--prompt", flags->prompt, "the prompt as raw text")->type_name("TEXT");
  auto* chat = command.add_option("--chat", flags->chat, "a user message, in the Qwen3 chat template")->type_name("TEXT");
  command.add_flag("--no-thinking", flags->no_thinking, "--chat without the thinking part (the template's empty think block)")
      ->needs(chat);
  at_least(command.add_option("--thinking-budget", flags->request.thinking_budget,
                              "at most N tokens of thinking, then </think> is forced; -1: unlimited")
               ->type_name("N"),
           -1);
  at_least(command.add_option("--max-new-tokens", flags->request.max_tokens,
                              "at most this many new tokens (prompt + new must fit max_position_embeddings)")
               ->type_name("N"),
           1);
  at_least(command.add_option("--samples", flags->request.n, "independent samples of the prompt (the API's n)")
               ->type_name("N"),
           1);
  command.add_option("--stop", flags->request.stop, "stop before this text (repeatable)")->type_name("TEXT");
  command.add_option("--stop-token-ids", flags->request.stop_token_ids, "stop after one of these ids (repeatable)")
      ->type_name("ID")
      ->delimiter(',');
  command.add_flag("--ignore-eos", flags->request.ignore_eos, "keep generating after the model's end-of-sequence token");
  command.add_flag("--json", flags->json, "one JSON object per sample: token_ids, text, reasoning_text, finish_reason, usage");
  add_sampling_flags(command, flags->request.sampling);
  add_engine_flags(command, flags->engine);
  add_tp_flag(command, flags->tp);
  cli.on_run(command, [flags] {
    if (!flags->prompt_ids.empty() + !flags->prompt.empty() + !flags->chat.empty() != 1)
      invalid_argument("give the prompt once: --prompt-ids IDS, --prompt TEXT or --chat TEXT");
    flags->request.sampling.validate();
    return run_with_mpi_if_needed(flags->tp > 1, [&] { return run_generate(*flags); });
  });
}

}  // namespace stepwise::cli
