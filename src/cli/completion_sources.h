// What `stepwise eval run` and `stepwise distill` share: the problems they ask (a benchmark or a file), and where
// they get completions: a model folder loaded in this process (the serving engine on the CPU) or a stepwise server
// over gRPC (any device, any TP size). The flags that choose them, and the completion sources.
#pragma once

#include <memory>
#include <string>

#include "cli/command_line.h"
#include "cli/connection_flags.h"
#include "eval/completion_source.h"
#include "eval/reasoning_problems.h"
#include "infer/engine.h"

namespace stepwise::cli {

struct ProblemFlags {
  std::string dataset, data_dir;  // data_dir: the source tree's data/reasoning unless --data-dir
  int64_t limit = 0;
  std::vector<ReasoningProblem> load() const { return load_reasoning_problems(dataset, data_dir, limit); }
};

// --dataset NAME|FILE (required) --data-dir DIR --limit N
void add_problem_flags(CLI::App& command, ProblemFlags& flags);

struct CompletionSourceFlags {
  std::string model_dir, tokenizer_dir, served_model;
  Connection connection;
  EngineOptions engine;
  kernels::CpuAccumulation accumulation = kernels::CpuAccumulation::kFloat64;
  const CLI::Option* server = nullptr;  // --server, to tell whether it was given
  bool use_server = false;              // chosen otherwise (distill's --teacher ADDR)
};

// --model DIR [--tokenizer DIR] [engine flags] | --server ADDR [--served-model NAME] [connection flags].
void add_completion_source_flags(CLI::App& command, CompletionSourceFlags& flags);
// INVALID_ARGUMENT unless exactly one of --model and --server was given.
std::unique_ptr<CompletionSource> open_completion_source(const CompletionSourceFlags& flags);

}  // namespace stepwise::cli
