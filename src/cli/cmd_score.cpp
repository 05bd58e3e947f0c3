// `stepwise score`: per-position log-probabilities of the next token and the model's argmax, for sequences of
// token ids given one JSON array per line. `--tp N` under `mpirun -np N` splits the model over N ranks (the
// vocab-parallel logits are gathered over TP); only rank 0 prints.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/status.h"
#include "distributed/mpi_runtime.h"
#include "distributed/process_grid.h"
#include "distributed/tensor_parallel.h"
#include "infer/generate.h"
#include "infer/sampler.h"
#include "model/hf_model.h"

namespace stepwise::cli {

namespace {

std::vector<int32_t> parse_line(const std::string& path, int64_t line_no, const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array())
    invalid_argument(path, ":", line_no, ": expected a JSON array of token ids");
  std::vector<int32_t> ids;
  for (const auto& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      invalid_argument(path, ":", line_no, ": '", v.dump(), "' is not a token id (non-negative integer)");
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

struct ScoreFlags {
  std::string model_dir, tokens_path;
  int tp = 1;
};

int score(const std::string& model_dir, const std::string& tokens_path, int tp) {
  const ProcessGrid grid = make_process_grid(tp, Device::kCPU, /*dp_size=*/1);
  std::ifstream in(tokens_path);
  if (!in) fail(StatusCode::kNotFound, "cannot open --tokens file '", tokens_path, "'");
  ModelOptions options;
  options.tp = grid.tp.get();
  auto model = load_hf_model(model_dir, options);
  const int64_t vocab = model->config().vocab_size;

  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::vector<int32_t> ids = parse_line(tokens_path, line_no, line);
    for (int32_t id : ids)
      if (id >= vocab) invalid_argument(tokens_path, ":", line_no, ": token id ", id, " >= vocab size ", vocab);
    nlohmann::json out = {{"logprobs", nlohmann::json::array()}, {"argmax", nlohmann::json::array()}};
    if (ids.size() >= 2) {
      TokenBatch batch;
      batch.add_document(ids);
      const std::vector<float> logits =
          gather_vocab_parallel_logits(model->tp(), model->forward_logits(batch), vocab);
      for (size_t t = 0; t + 1 < ids.size(); ++t) {
        const float* row = logits.data() + t * vocab;
        const int32_t best = argmax(row, vocab);
        double sum = 0;
        for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - row[best]);
        out["logprobs"].push_back(static_cast<double>(row[ids[t + 1]]) - row[best] - std::log(sum));
        out["argmax"].push_back(best);
      }
    }
    if (grid.is_root()) std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

}  // namespace

void add_score_command(CommandLine& cli, CLI::App& parent) {
  auto flags = std::make_shared<ScoreFlags>();
  CLI::App& command = add_command(
      parent, "score", "log-probabilities and argmax of token sequences under a model",
      "stepwise score --model runs/tiny-gsm8k-hf --tokens ids.jsonl    # a line of ids.jsonl: [151644, 872, 198]\n"
      "mpirun -np 2 stepwise score --tp 2 --model DIR --tokens ids.jsonl",
      "For each line of --tokens, one JSON line on stdout: {\"logprobs\": [...], \"argmax\": [...]}, for every\n"
      "position after the first: log p(the token there | the tokens before it), and the model's most likely token.");
  add_model_flag(command, flags->model_dir);
  existing_file(command.add_option("--tokens", flags->tokens_path, "token ids, one JSON array per line")
                    ->required()
                    ->type_name("FILE"));
  add_tp_flag(command, flags->tp);
  cli.on_run(command, [flags] {
    return run_with_mpi_if_needed(flags->tp > 1, [&] { return score(flags->model_dir, flags->tokens_path, flags->tp); });
  });
}

}  // namespace stepwise::cli
