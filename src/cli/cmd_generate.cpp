// `stepwise generate`: continue a prompt of token ids (greedy by default, or sampled with a seed) and print the
// new ids as a JSON array. `--tp N` under `mpirun -np N` splits the model over N ranks; every rank samples the same
// token from the gathered logits, and only rank 0 prints.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "infer/generate.h"
#include "model/hf_model.h"

namespace stepwise::cli {

namespace {

struct GenerateFlags {
  std::string model_dir, prompt_ids;
  GenerateRequest request;
  bool ignore_eos = false;
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

int generate_ids(const std::string& model_dir, GenerateRequest req, bool ignore_eos, int tp) {
  const ProcessGrid grid = make_process_grid(tp, Device::kCPU, /*dp_size=*/1);
  ModelOptions options;
  options.tp = grid.tp.get();
  auto model = load_hf_model(model_dir, options);
  const int64_t vocab = model->config().vocab_size;
  for (int32_t id : req.prompt)
    if (id >= vocab) invalid_argument("--prompt-ids: token id ", id, " >= the model's vocab size ", vocab);
  if (!ignore_eos && model->config().eos_token_id >= 0)
    req.stop_tokens.push_back(static_cast<int32_t>(model->config().eos_token_id));

  const std::vector<int32_t> out = generate(*model, req);
  if (!grid.is_root()) return 0;
  std::printf("[");
  for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? ", " : "", out[i]);
  std::printf("]\n");
  return 0;
}

}  // namespace

void add_generate_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<GenerateFlags>();
  SamplingParams& sampling = flags->request.sampling;
  flags->request.max_new_tokens = 32;
  CLI::App& command = add_command(
      parent, "generate", "continue a prompt with a model (greedy or sampled)",
      "stepwise generate --model runs/tiny-gsm8k-hf --prompt-ids 151644,872,198 --max-new-tokens 16\n"
      "stepwise generate --model DIR --prompt-ids 1,2,3 --temperature 0.7 --top-p 0.9 --seed 7",
      "Prints the new token ids as one JSON array. Greedy unless --temperature > 0; sampling is reproducible\n"
      "for a given --seed. Stops after the model's eos_token_id (printed) unless --ignore-eos.");
  add_model_flag(command, flags->model_dir);
  check_value(command.add_option("--prompt-ids", flags->prompt_ids, "the prompt's token ids")->required()->type_name("IDS"),
              "comma-separated, e.g. 1,2,3", [](const std::string& value) {
                std::string error;
                parse_ids(value, &error);
                return error;
              });
  at_least(command.add_option("--max-new-tokens", flags->request.max_new_tokens,
                              "at most this many new tokens (prompt + new must fit max_position_embeddings)")
               ->type_name("N"),
           0);
  at_least(command.add_option("--temperature", sampling.temperature, "softmax temperature; 0: greedy")->type_name("T"),
           0);
  at_least(command.add_option("--top-k", sampling.top_k, "sample among the K most likely tokens; 0: all")
               ->type_name("K"),
           0);
  in_range(command.add_option("--top-p", sampling.top_p,
                              "sample among the most likely tokens whose probabilities add up to P (nucleus); 1: all")
               ->type_name("P"),
           0, 1, /*min_excluded=*/true);
  command.add_option("--seed", sampling.seed, "the sampler's random seed")->type_name("S");
  command.add_flag("--ignore-eos", flags->ignore_eos, "keep generating after the model's end-of-sequence token");
  add_tp_flag(command, flags->tp);
  cli.on_run(command, [flags] {
    std::string error;
    flags->request.prompt = *parse_ids(flags->prompt_ids, &error);
    flags->request.sampling.validate();
    return run_with_mpi_if_needed(flags->tp > 1, [&] {
      return generate_ids(flags->model_dir, flags->request, flags->ignore_eos, flags->tp);
    });
  });
}

}  // namespace stepwise::cli
